/* events.subscribe: every committed event, in order, to each subscriber — replayed from
 * the store from any sequence number the store still holds, then live.  A subscriber that
 * does not read for EVENTS_STALL_MS gets a last notification saying where to resume and is
 * disconnected; what it costs the daemon meanwhile is bounded by EVENTS_SOFT_BYTES. */
#ifndef TEL_EVENTS_H
#define TEL_EVENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "lifecycle.h"
#include "loop.h"
#include "server.h"
#include "store.h"

#define EVENTS_SOFT_BYTES (256 * 1024) /* at most; see events_set_output_limit */
#define EVENTS_STALL_MS 5000

struct events;

struct events *events_new(struct loop *loop, struct store *store, struct server *server,
                          struct lifecycle *lc);
void events_free(struct events *ev);
/* Reply {seq: the last committed seq, oldest: the oldest stored} and start streaming
 * events after `since` (or, without since, after the last one).  id: borrowed. */
void events_subscribe(struct events *ev, struct conn *c, json_t *id, bool has_since,
                      uint64_t since);
/* The connection closed. */
void events_drop(struct events *ev, struct conn *c);
/* The output limit of connections (api.max_output_kb): the events' own budget stays
 * under half of it, so it is the events that tell a slow subscriber where to resume, not
 * the server that cuts it off. */
void events_set_output_limit(struct events *ev, size_t max_output_bytes);
/* After a reload: end the subscriptions whose caller may no longer read (a last
 * notification says why). */
typedef bool (*events_allowed_fn)(void *arg, struct conn *c);
void events_recheck(struct events *ev, events_allowed_fn allowed, void *arg);
unsigned events_subscribers(const struct events *ev);

#endif
