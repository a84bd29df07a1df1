/* The API: the JSON-RPC methods of DESIGN.md on the server socket. */
#ifndef TEL_API_H
#define TEL_API_H

#include <stddef.h>

#include "lifecycle.h"
#include "loop.h"
#include "runtime.h"
#include "server.h"
#include "store.h"

struct api;

/* server.reload: build and apply a new configuration; 0, or negative with err. */
typedef int (*api_reload_fn)(void *arg, char *err, size_t err_size);

struct metrics;
/* metrics: borrowed, NULL when off. */
int api_open(struct loop *loop, struct lifecycle *lc, struct store *store, struct runtime *gen,
             struct metrics *metrics, api_reload_fn reload, void *reload_arg, struct api **out,
             char *err, size_t err_size);
void api_set_runtime(struct api *a, struct runtime *gen);
/* Write queued replies (the end of a turn, after the commit). */
void api_flush(struct api *a);
void api_close(struct api *a);

#endif
