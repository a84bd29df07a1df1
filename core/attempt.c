#include "config.h"
#include "attempt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
    a->cancel_fd = cancel_fd;
    a->retry_after_ms = -1;
    atomic_init(&a->last_heartbeat_ms, 0);
}

void attempt_cancel(struct tel_attempt *a)
{
    atomic_store(&a->cancelled, true);
    if (a->cancel_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(a->cancel_fd, &one, sizeof(one));
        (void)n; /* an eventfd write only fails when the counter would overflow */
    }
}

void attempt_clear(struct tel_attempt *a)
{
    json_decref(a->output);
    json_decref(a->details);
    free(a->error_code);
    free(a->error_message);
    a->output = a->details = NULL;
    a->error_code = a->error_message = NULL;
}
