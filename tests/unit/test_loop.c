/* The event loop's timers: they wake a turn that waits without a timeout (through the
 * loop's timerfd), never early, in order, also when an earlier timer comes after a later
 * one and when the first timer is disarmed. */
#include "config.h"
#include "testutil.h"

#include <signal.h>

#include "loop.h"

struct fired {
    int count;
    int64_t at_ms[8];
};

static void on_timer(void *arg)
{
    struct fired *f = arg;
    if (f->count < 8)
        f->at_ms[f->count] = loop_now_ms();
    f->count++;
}

/* Turns that wait as long as they like, until f has fired n times. */
static void run_until(struct loop *l, const struct fired *f, int n)
{
    for (int turns = 0; f->count < n; turns++) {
        assert_true(turns < 1000);
        assert_int_equal(loop_run_once(l, -1), 0);
    }
}

static void test_timer_wakes_an_endless_wait(void **state)
{
    struct loop *l = loop_new();
    assert_non_null(l);
    struct fired f = { 0 };
    struct loop_timer t;
    loop_timer_init(&t, on_timer, &f);
    int64_t due = loop_now_ms() + 30;
    loop_timer_arm(l, &t, due);
    run_until(l, &f, 1);
    assert_true(f.at_ms[0] >= due);
    assert_true(f.at_ms[0] < due + 1000);
    assert_false(loop_timer_armed(&t));

    /* due already: the next turn runs it without waiting for anything */
    int64_t start = loop_now_ms();
    loop_timer_arm(l, &t, start - 5);
    assert_int_equal(loop_run_once(l, -1), 0);
    assert_int_equal(f.count, 2);
    assert_true(loop_now_ms() - start < 1000);
    loop_free(l);
}

static void test_earlier_timer_after_a_later_one(void **state)
{
    struct loop *l = loop_new();
    struct fired early = { 0 }, late = { 0 };
    struct loop_timer te, tl;
    loop_timer_init(&te, on_timer, &early);
    loop_timer_init(&tl, on_timer, &late);
    int64_t now = loop_now_ms();
    loop_timer_arm(l, &tl, now + 400);
    assert_int_equal(loop_run_once(l, 0), 0); /* the timerfd is set for the later one */
    loop_timer_arm(l, &te, now + 40);
    run_until(l, &early, 1);
    assert_true(early.at_ms[0] >= now + 40);
    assert_true(early.at_ms[0] < now + 400); /* it did not wait for the later one */
    assert_int_equal(late.count, 0);
    run_until(l, &late, 1);
    assert_true(late.at_ms[0] >= now + 400);
    loop_free(l);
}

static void test_disarmed_first_timer(void **state)
{
    struct loop *l = loop_new();
    struct fired gone = { 0 }, kept = { 0 };
    struct loop_timer tg, tk;
    loop_timer_init(&tg, on_timer, &gone);
    loop_timer_init(&tk, on_timer, &kept);
    int64_t now = loop_now_ms();
    loop_timer_arm(l, &tg, now + 20);
    loop_timer_arm(l, &tk, now + 80);
    assert_int_equal(loop_run_once(l, 0), 0);
    loop_timer_disarm(l, &tg);
    /* the timerfd still says +20: that turn finds nothing due and waits again */
    run_until(l, &kept, 1);
    assert_int_equal(gone.count, 0);
    assert_true(kept.at_ms[0] >= now + 80);
    loop_free(l);
}

struct periodic {
    struct loop *loop;
    struct loop_timer t;
    struct fired f;
};

static void on_periodic(void *arg)
{
    struct periodic *p = arg;
    on_timer(&p->f);
    if (p->f.count < 5)
        loop_timer_arm(p->loop, &p->t, loop_now_ms() + 10);
}

static void test_timer_rearmed_from_its_callback(void **state)
{
    struct periodic p = { .loop = loop_new() };
    loop_timer_init(&p.t, on_periodic, &p);
    loop_timer_arm(p.loop, &p.t, loop_now_ms() + 10);
    run_until(p.loop, &p.f, 5);
    for (int i = 1; i < 5; i++)
        assert_true(p.f.at_ms[i] >= p.f.at_ms[i - 1] + 10);
    loop_free(p.loop);
}

static void test_bounded_wait_without_timers(void **state)
{
    struct loop *l = loop_new();
    int64_t start = loop_now_ms();
    assert_int_equal(loop_run_once(l, 50), 0);
    int64_t took = loop_now_ms() - start;
    assert_true(took >= 49 && took < 1000);
    loop_free(l);
}

int main(void)
{
    alarm(60); /* a timer that never wakes the loop would hang rather than fail */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_wakes_an_endless_wait),
        cmocka_unit_test(test_earlier_timer_after_a_later_one),
        cmocka_unit_test(test_disarmed_first_timer),
        cmocka_unit_test(test_timer_rearmed_from_its_callback),
        cmocka_unit_test(test_bounded_wait_without_timers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
