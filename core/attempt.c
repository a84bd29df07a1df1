#include "config.h"
#include "attempt.h"
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <unistd.h>

int64_t attempt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void attempt_init(struct tel_attempt *a, const char *task_id, const char *type, uint32_t number,
                  json_t *input, json_t *labels, int64_t deadline_ms, int cancel_fd)
{
    memset(a, 0, sizeof(*a));
    a->task_id = task_id;
    a->type = type;
    a->number = number;
    snprintf(a->token, sizeof(a->token), "%s/%u", task_id, number);
    a->input = input;
    a->labels = labels;
    a->deadline_ms = deadline_ms;
    atomic_init(&a->cancelled, false);
    atomic_init(&a->cancel_fd, cancel_fd);
    a->retry_after_ms = -1;
    atomic_init(&a->last_heartbeat_ms, 0);
}

static void wake(int fd)
{
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof(one));
    (void)n; /* an eventfd write only fails when the counter would overflow */
}

/* The flag and the fd are both sequentially consistent: whichever of attempt_cancel and
 * attempt_cancel_fd runs second sees the other's write, so a cancel is never missed. */
void attempt_cancel(struct tel_attempt *a)
{
    atomic_store(&a->cancelled, true);
    int fd = atomic_load(&a->cancel_fd);
    if (fd >= 0)
        wake(fd);
}

int attempt_cancel_fd(struct tel_attempt *a)
{
    int fd = atomic_load(&a->cancel_fd);
    if (fd >= 0)
        return fd;
    int made = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (made < 0)
        return -1;
    int expected = -1;
    if (!atomic_compare_exchange_strong(&a->cancel_fd, &expected, made)) {
        close(made);
        return expected;
    }
    if (atomic_load(&a->cancelled))
        wake(made);
    return made;
}

void attempt_release(struct tel_attempt *a)
{
    int fd = atomic_exchange(&a->cancel_fd, -1);
    if (fd >= 0)
        close(fd);
}

void attempt_clear(struct tel_attempt *a)
{
    host_spawn_release(a);
    json_decref(a->output);
    json_decref(a->details);
    json_decref(a->manual);
    a->manual = NULL;
    free(a->error_code);
    free(a->error_message);
    a->output = a->details = NULL;
    a->error_code = a->error_message = NULL;
}
