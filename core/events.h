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

#define EVENTS_SOFT_BYTES (256 * 1024)
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
unsigned events_subscribers(const struct events *ev);

#endif
