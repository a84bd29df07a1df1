#include "config.h"
#include "task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[TASK_STATE_COUNT] = {
    "pending", "running", "retry_wait", "waiting", "succeeded", "failed", "cancelled", "timed_out",
};

const char *task_state_name(enum task_state s)
{
    return s < TASK_STATE_COUNT ? state_names[s] : "unknown";
}

int task_state_parse(const char *name)
{
    for (int i = 0; i < TASK_STATE_COUNT; i++)
        if (strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

void task_set_time(json_t *obj, const char *key, int64_t wall_ms)
{
    char buf[32];
    util_format_time(wall_ms, buf);
    json_object_set_new(obj, key, json_string(buf));
}

struct task *task_new(const uint8_t id[16], const char *type, json_t *input, json_t *rec)
{
    struct task *t = calloc(1, sizeof(*t));
    if (!t || !(t->type = strdup(type))) {
        free(t);
        json_decref(input);
        json_decref(rec);
        return NULL;
    }
    memcpy(t->id, id, 16);
    util_uuid_format(id, t->id_str);
    t->input = input;
    t->rec = rec;
    t->labels = json_object_get(rec, "labels");
    return t;
}

void task_free(struct task *t)
{
    if (!t)
        return;
    json_decref(t->rec);
    json_decref(t->input);
    free(t->type);
    free(t);
}

static int64_t rec_time(json_t *rec, const char *key)
{
    int64_t ms = 0;
    const char *s = json_string_value(json_object_get(rec, key));
    if (s)
        util_parse_time(s, &ms);
    return ms;
}

struct task *task_from_record(const uint8_t id[16], const char *rec_json, size_t rec_len,
                              const char *input_json, size_t input_len, char *err,
                              size_t err_size)
{
    json_error_t jerr;
    json_t *rec = json_loadb(rec_json, rec_len, 0, &jerr);
    json_t *input = input_json ? json_loadb(input_json, input_len, JSON_DECODE_ANY, &jerr) : NULL;
    const char *type = json_string_value(json_object_get(rec, "type"));
    int state = task_state_parse(json_string_value(json_object_get(rec, "state")) ?: "");
    if (!rec || !input || !type || state < 0) {
        snprintf(err, err_size, "unreadable task record: %s", !rec || !input ? jerr.text
                                                              : "missing type or state");
        json_decref(rec);
        json_decref(input);
        return NULL;
    }
    struct task *t = task_new(id, type, input, rec);
    if (!t) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    t->state = (enum task_state)state;
    t->priority = json_integer_value(json_object_get(rec, "priority"));
    t->order = (uint64_t)json_integer_value(json_object_get(rec, "submit_seq"));
    t->attempt = (uint32_t)json_array_size(json_object_get(rec, "attempts"));
    t->interrupts = (uint32_t)json_integer_value(json_object_get(rec, "interrupts"));
    t->owner = (uid_t)json_integer_value(json_object_get(rec, "owner_uid"));
    t->created_ms = rec_time(rec, "created_at");
    t->queued_ms = rec_time(rec, "queued_at");
    t->next_ms = rec_time(rec, "next_attempt_at");
    t->stored_due_ms = t->state == TASK_RETRY_WAIT ? t->next_ms : 0;
    json_t *a = task_current_attempt(t);
    if (a)
        t->started_ms = rec_time(a, "started_at");
    return t;
}

void task_set_state(struct task *t, enum task_state s, int64_t now_ms)
{
    t->state = s;
    json_object_set_new(t->rec, "state", json_string(task_state_name(s)));
    task_set_time(t->rec, "updated_at", now_ms);
    if (task_state_terminal(s))
        task_set_time(t->rec, "finished_at", now_ms);
    if (s != TASK_RETRY_WAIT)
        json_object_del(t->rec, "next_attempt_at");
}

json_t *task_current_attempt(struct task *t)
{
    json_t *attempts = json_object_get(t->rec, "attempts");
    size_t n = json_array_size(attempts);
    return n ? json_array_get(attempts, n - 1) : NULL;
}

void task_close_attempt(struct task *t, const char *outcome, const char *code,
                        const char *message, int64_t now_ms)
{
    json_t *a = task_current_attempt(t);
    if (!a || json_object_get(a, "finished_at"))
        return;
    json_object_set_new(a, "outcome", json_string(outcome));
    task_set_time(a, "finished_at", now_ms);
    if (code)
        json_object_set_new(a, "error", json_pack("{s:s, s:s}", "code", code, "message",
                                                  message ? message : ""));
}

void task_set_error(struct task *t, const char *code, const char *message)
{
    json_object_set_new(t->rec, "error",
                        json_pack("{s:s, s:s}", "code", code, "message", message ? message : ""));
}

/* ---- the table: open hashing on the id's random bits ---- */

static size_t bucket_of(const struct task_table *tt, const uint8_t id[16])
{
    uint64_t h;
    memcpy(&h, id + 8, 8); /* UUIDv7's last 8 bytes are random */
    return (size_t)(h % tt->n_buckets);
}

void task_table_init(struct task_table *tt)
{
    tt->n_buckets = 1024;
    tt->count = 0;
    tt->buckets = calloc(tt->n_buckets, sizeof(*tt->buckets));
    if (!tt->buckets)
        abort();
}

void task_table_free(struct task_table *tt)
{
    for (size_t i = 0; i < tt->n_buckets; i++) {
        struct task *t = tt->buckets[i];
        while (t) {
            struct task *next = t->hash_next;
            task_free(t);
            t = next;
        }
    }
    free(tt->buckets);
    tt->buckets = NULL;
    tt->count = 0;
}

struct task *task_table_get(const struct task_table *tt, const uint8_t id[16])
{
    for (struct task *t = tt->buckets[bucket_of(tt, id)]; t; t = t->hash_next)
        if (memcmp(t->id, id, 16) == 0)
            return t;
    return NULL;
}

static void grow(struct task_table *tt)
{
    struct task_table bigger = { .n_buckets = tt->n_buckets * 4, .count = tt->count };
    bigger.buckets = calloc(bigger.n_buckets, sizeof(*bigger.buckets));
    if (!bigger.buckets)
        return; /* stay slower rather than fail */
    for (size_t i = 0; i < tt->n_buckets; i++) {
        struct task *t = tt->buckets[i];
        while (t) {
            struct task *next = t->hash_next;
            size_t b = bucket_of(&bigger, t->id);
            t->hash_next = bigger.buckets[b];
            bigger.buckets[b] = t;
            t = next;
        }
    }
    free(tt->buckets);
    *tt = bigger;
}

void task_table_put(struct task_table *tt, struct task *t)
{
    if (tt->count >= tt->n_buckets)
        grow(tt);
    size_t b = bucket_of(tt, t->id);
    t->hash_next = tt->buckets[b];
    tt->buckets[b] = t;
    tt->count++;
}

void task_table_remove(struct task_table *tt, struct task *t)
{
    struct task **p = &tt->buckets[bucket_of(tt, t->id)];
    while (*p && *p != t)
        p = &(*p)->hash_next;
    if (*p) {
        *p = t->hash_next;
        tt->count--;
    }
}
