/* The manual executor's internal declarations, shared by its files (never installed). */
#ifndef TEL_MANUAL_PLUGIN_H
#define TEL_MANUAL_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <tel/plugin.h>

/* One plugin instance. */
struct manual_plugin {
    const struct tel_host *host;   /* borrowed from init to fini */
    struct tel_context *ctx;
};

/* One task type, read-only after prepare_type (shared by worker threads).
 *
 * A "ref" below is a JSON value owned by the type: either the literal the config gave
 * (a name string, an integer) or an object {"pointer": "/json/pointer"} to look up in
 * the task's input at run time.  Every json_t here is owned and never shared with the
 * host or the input: run only reads them and copies what it sends. */
struct manual_type {
    char *name;                 /* the task type's name, for messages */
    json_t *assignee;           /* ref to a user name, or NULL */
    json_t *candidate_users;    /* array of refs (names, or pointers to a name or names), or NULL */
    json_t *candidate_groups;   /* the same for groups, or NULL */
    json_t *form;               /* the JSON Schema (an object or a boolean) that outputs must
                                   satisfy, or NULL */
    char *form_path;            /* the form's file (absolute), or NULL */
    double due_s;               /* > 0: due this long after the task starts waiting */
    char *due_pointer;          /* or: a pointer to an RFC 3339 timestamp or epoch seconds */
    json_t *escalation;         /* the request's "escalation" object, or NULL */
    json_t *claim_timeout_s;    /* a number > 0, or NULL */
    json_t *priority;           /* ref to an integer, or NULL */
    json_t *notify;             /* the request's "notify" object, or NULL */
};

/* Priorities, as the core bounds them (task types, task.submit, manual requests). */
#define MANUAL_PRIORITY_MIN (-1000000)
#define MANUAL_PRIORITY_MAX 1000000
/* The longest due_s and claim_timeout_s, in seconds (about 31 years): keeps the
 * millisecond arithmetic far from overflowing. */
#define MANUAL_MAX_SECONDS 1e9

/* config.c: the type's config, checked strictly.  Returns 0 and a new type (free with
 * manual_type_free), or negative with "<key path>: <what was expected>" in err. */
int manual_type_parse(const struct manual_plugin *p, const char *type_name, json_t *config,
                      struct manual_type **out, char *err, size_t err_size);
void manual_type_free(struct manual_type *t);

/* resolve.c: RFC 6901 JSON pointers, names and timestamps. */

/* True when p is a syntactically valid JSON pointer: "" or "/"-separated reference
 * tokens, "~" only in the escapes "~0" ("~") and "~1" ("/"). */
bool manual_pointer_valid(const char *p);
/* The value p points to in doc (borrowed from doc), or NULL when it does not resolve. */
json_t *manual_pointer_get(json_t *doc, const char *p);
/* True when v is a user or group name the core accepts: a string of 1 to 256 bytes
 * without control characters, ':' or ',' ("#<number>" names a uid or gid). */
bool manual_is_name(const json_t *v);
/* Parse an RFC 3339 date-time ("2026-11-27T18:00:00Z", "2026-11-27T19:00:00.5+01:00")
 * into milliseconds since the epoch.  Returns 0, or -1 when s is not one. */
int manual_rfc3339_ms(const char *s, int64_t *ms);
/* A short name of v's JSON type, for messages ("a string", "null", ...). */
const char *manual_json_kind(const json_t *v);

#endif
