/* The task store on LMDB: see store.h for the layout and the transaction model. */
#include "config.h"
#include "store.h"
#include "log.h"
#include "statedir.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { DB_META, DB_TASKS, DB_INPUTS, DB_OUTPUTS, DB_EVENTS, DB_IDEM, DB_ACTIVE, DB_DUE,
       DB_FINISHED, DB_SCHEMAS, DB_COUNT };
static const char *const db_names[DB_COUNT] = { "meta", "tasks", "inputs", "outputs", "events",
                                                "idem", "active", "due", "finished", "schemas" };

struct store {
    char *path;
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    MDB_txn *turn;  /* the turn's write transaction */
    MDB_txn *op;    /* the current operation's savepoint (child of turn) */
    MDB_txn *read;  /* reused read-only transaction, reset between uses */
    bool read_live;
    uint64_t last_seq;      /* of the open turn */
    uint64_t committed_seq; /* as of the last commit */
    uint64_t commits;
};

static int map_err(struct store *s, int rc, const char *what)
{
    if (rc == 0)
        return 0;
    if (rc == MDB_NOTFOUND)
        return -ENOENT;
    if (rc == MDB_MAP_FULL)
        return -ENOSPC;
    if (rc == MDB_KEYEXIST)
        return -EEXIST;
    log_error("store error", "op", what, "error", mdb_strerror(rc), "path", s->path);
    return rc > 0 ? -rc : -EIO;
}

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t read_be64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* ---- opening ---- */

static int check_schema(struct store *s, MDB_txn *txn, char *err, size_t err_size)
{
    MDB_val key = { strlen("schema_version"), "schema_version" }, val;
    int rc = mdb_get(txn, s->dbi[DB_META], &key, &val);
    char want[16];
    snprintf(want, sizeof(want), "%d", STORE_SCHEMA_VERSION);
    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        mdb_stat(txn, s->dbi[DB_TASKS], &st);
        if (st.ms_entries > 0) {
            snprintf(err, err_size, "%s: the store has tasks but no schema version: refusing "
                     "to guess (nothing was changed)", s->path);
            return -EPROTO;
        }
        val = (MDB_val){ strlen(want), want };
        return map_err(s, mdb_put(txn, s->dbi[DB_META], &key, &val, 0), "put schema");
    }
    if (rc != 0)
        return map_err(s, rc, "get schema");
    if (val.mv_size != strlen(want) || memcmp(val.mv_data, want, val.mv_size) != 0) {
        snprintf(err, err_size,
                 "%s: the store has schema version %.*s, this teld understands version %s "
                 "(written by another teld version?): refusing to start, nothing was changed",
                 s->path, (int)(val.mv_size > 16 ? 16 : val.mv_size), (const char *)val.mv_data,
                 want);
        return -EPROTO;
    }
    return 0;
}

int store_open(const char *dir, uint64_t map_size_bytes, struct store **out, char *err,
               size_t err_size)
{
    struct store *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(dir))) {
        free(s);
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    int rc = statedir_mkdirs(dir, 0700);
    MDB_txn *txn = NULL;
    if (rc < 0) {
        snprintf(err, err_size, "cannot create %s: %s", dir, strerror(-rc));
        goto fail;
    }
    if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_maxdbs(s->env, DB_COUNT)) ||
        (rc = mdb_env_set_mapsize(s->env, (size_t)map_size_bytes)) ||
        (rc = mdb_env_set_maxreaders(s->env, 64))) {
        snprintf(err, err_size, "%s: cannot set up LMDB: %s", dir, mdb_strerror(rc));
        rc = -EIO;
        goto fail;
    }
    /* NOTLS: read transactions are tied to our objects, not to threads (the backup thread
     * opens its own).  Every commit syncs: an acknowledged write is durable. */
    rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0600);
    if (rc) {
        snprintf(err, err_size, "%s: cannot open the store: %s", dir, mdb_strerror(rc));
        rc = rc == EAGAIN || rc == EBUSY ? -EBUSY : -EIO;
        goto fail;
    }
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn))) {
        snprintf(err, err_size, "%s: %s", dir, mdb_strerror(rc));
        rc = -EIO;
        goto fail;
    }
    for (int i = 0; i < DB_COUNT; i++) {
        if ((rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]))) {
            snprintf(err, err_size, "%s: cannot open database %s: %s", dir, db_names[i],
                     mdb_strerror(rc));
            rc = rc == MDB_MAP_FULL ? -ENOSPC : -EIO;
            goto fail;
        }
    }
    if ((rc = check_schema(s, txn, err, err_size)) < 0)
        goto fail;
    MDB_cursor *cur;
    MDB_val key, val;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_EVENTS], &cur)) == 0) {
        if (mdb_cursor_get(cur, &key, &val, MDB_LAST) == 0 && key.mv_size == 8)
            s->last_seq = read_be64(key.mv_data);
        mdb_cursor_close(cur);
    }
    if ((rc = mdb_txn_commit(txn))) {
        txn = NULL;
        snprintf(err, err_size, "%s: %s", dir, mdb_strerror(rc));
        rc = rc == MDB_MAP_FULL ? -ENOSPC : -EIO;
        goto fail;
    }
    s->committed_seq = s->last_seq;
    *out = s;
    return 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    if (s->env)
        mdb_env_close(s->env);
    free(s->path);
    free(s);
    return rc < 0 ? rc : -EIO;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->op)
        mdb_txn_abort(s->op);
    if (s->turn)
        mdb_txn_abort(s->turn);
    if (s->read)
        mdb_txn_abort(s->read);
    mdb_env_close(s->env);
    free(s->path);
    free(s);
}

const char *store_path(const struct store *s) { return s->path; }

/* ---- transactions ---- */

int store_op_begin(struct store *s)
{
    int rc;
    if (s->op)
        return -EBUSY;
    if (!s->turn) {
        store_read_end(s);
        if ((rc = mdb_txn_begin(s->env, NULL, 0, &s->turn)))
            return map_err(s, rc, "begin");
    }
    if ((rc = mdb_txn_begin(s->env, s->turn, 0, &s->op)))
        return map_err(s, rc, "begin op");
    return 0;
}

int store_op_end(struct store *s, bool keep)
{
    if (!s->op)
        return 0;
    MDB_txn *op = s->op;
    s->op = NULL;
    if (!keep) {
        mdb_txn_abort(op);
        /* Events numbered inside the undone op are gone: recount from the turn. */
        MDB_cursor *cur;
        MDB_val key, val;
        s->last_seq = s->committed_seq;
        if (mdb_cursor_open(s->turn, s->dbi[DB_EVENTS], &cur) == 0) {
            if (mdb_cursor_get(cur, &key, &val, MDB_LAST) == 0 && key.mv_size == 8)
                s->last_seq = read_be64(key.mv_data);
            mdb_cursor_close(cur);
        }
        return 0;
    }
    return map_err(s, mdb_txn_commit(op), "commit op");
}

int store_commit(struct store *s)
{
    if (s->op)
        store_op_end(s, false);
    if (!s->turn)
        return 0;
    MDB_txn *turn = s->turn;
    s->turn = NULL;
    int rc = mdb_txn_commit(turn);
    if (rc) {
        s->last_seq = s->committed_seq;
        return map_err(s, rc, "commit");
    }
    s->committed_seq = s->last_seq;
    s->commits++;
    return 0;
}

bool store_turn_open(const struct store *s) { return s->turn != NULL; }
uint64_t store_commits(const struct store *s) { return s->commits; }
uint64_t store_last_seq(const struct store *s) { return s->last_seq; }

/* The transaction reads go through: the op, the turn, or the shared read txn. */
static MDB_txn *read_txn(struct store *s)
{
    if (s->op)
        return s->op;
    if (s->turn)
        return s->turn;
    if (!s->read_live) {
        int rc = s->read ? mdb_txn_renew(s->read)
                         : mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->read);
        if (rc) {
            map_err(s, rc, "begin read");
            return NULL;
        }
        s->read_live = true;
    }
    return s->read;
}

void store_read_end(struct store *s)
{
    if (s->read_live) {
        mdb_txn_reset(s->read);
        s->read_live = false;
    }
}

/* A cursor on db in the transaction reads go through (see read_txn). */
static int read_cursor(struct store *s, int db, MDB_cursor **cur)
{
    MDB_txn *txn = read_txn(s);
    if (!txn)
        return -EIO;
    int rc = mdb_cursor_open(txn, s->dbi[db], cur);
    return rc ? map_err(s, rc, "cursor") : 0;
}

static int put(struct store *s, int db, const void *k, size_t klen, const void *v, size_t vlen,
               const char *what)
{
    if (!s->op)
        return -EINVAL;
    MDB_val key = { klen, (void *)k }, val = { vlen, (void *)v };
    return map_err(s, mdb_put(s->op, s->dbi[db], &key, &val, 0), what);
}

static int get(struct store *s, int db, const void *k, size_t klen, struct store_val *out)
{
    MDB_txn *txn = read_txn(s);
    if (!txn)
        return -EIO;
    MDB_val key = { klen, (void *)k }, val;
    int rc = mdb_get(txn, s->dbi[db], &key, &val);
    if (rc)
        return map_err(s, rc, "get");
    out->data = val.mv_data;
    out->len = val.mv_size;
    return 0;
}

static int del(struct store *s, int db, const void *k, size_t klen, const char *what)
{
    if (!s->op)
        return -EINVAL;
    MDB_val key = { klen, (void *)k };
    int rc = mdb_del(s->op, s->dbi[db], &key, NULL);
    return rc == MDB_NOTFOUND ? 0 : map_err(s, rc, what);
}

/* ---- records ---- */

int store_task_put(struct store *s, const uint8_t id[16], const char *json, size_t len)
{
    return put(s, DB_TASKS, id, 16, json, len, "put task");
}

int store_task_get(struct store *s, const uint8_t id[16], struct store_val *out)
{
    return get(s, DB_TASKS, id, 16, out);
}

int store_task_delete(struct store *s, const uint8_t id[16])
{
    int rc = del(s, DB_TASKS, id, 16, "delete task");
    if (!rc)
        rc = del(s, DB_INPUTS, id, 16, "delete input");
    if (!rc)
        rc = del(s, DB_OUTPUTS, id, 16, "delete output");
    return rc;
}

int store_task_next(struct store *s, const uint8_t after[16], uint8_t next[16],
                    struct store_val *out)
{
    MDB_cursor *cur;
    int rc = read_cursor(s, DB_TASKS, &cur);
    if (rc < 0)
        return rc;
    uint8_t from[16];
    memcpy(from, after, 16);
    MDB_val key = { 16, from }, val;
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    if (rc == 0 && key.mv_size == 16 && memcmp(key.mv_data, after, 16) == 0)
        rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    if (rc == 0 && key.mv_size == 16) {
        if (next)
            memcpy(next, key.mv_data, 16);
        if (out) {
            out->data = val.mv_data;
            out->len = val.mv_size;
        }
    }
    mdb_cursor_close(cur);
    return rc == 0 ? 0 : map_err(s, rc, "next task");
}

int store_input_put(struct store *s, const uint8_t id[16], const char *json, size_t len)
{
    return put(s, DB_INPUTS, id, 16, json, len, "put input");
}

int store_input_get(struct store *s, const uint8_t id[16], struct store_val *out)
{
    return get(s, DB_INPUTS, id, 16, out);
}

int store_output_put(struct store *s, const uint8_t id[16], const char *json, size_t len)
{
    return put(s, DB_OUTPUTS, id, 16, json, len, "put output");
}

int store_output_get(struct store *s, const uint8_t id[16], struct store_val *out)
{
    return get(s, DB_OUTPUTS, id, 16, out);
}

int store_event_append(struct store *s, int64_t wall_ms, const char *json, size_t len,
                       uint64_t *seq)
{
    if (!s->op)
        return -EINVAL;
    uint8_t key[8];
    uint64_t next = s->last_seq + 1;
    be64(key, next);
    MDB_val k = { 8, key }, v = { 8 + len, NULL };
    /* MDB_RESERVE: write the value in place instead of copying it twice. */
    int rc = mdb_put(s->op, s->dbi[DB_EVENTS], &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc)
        return map_err(s, rc, "append event");
    be64(v.mv_data, (uint64_t)wall_ms);
    memcpy((uint8_t *)v.mv_data + 8, json, len);
    s->last_seq = next;
    *seq = next;
    return 0;
}

int store_events_since(struct store *s, uint64_t since, size_t max, store_event_fn fn, void *arg)
{
    MDB_cursor *cur;
    int rc = read_cursor(s, DB_EVENTS, &cur);
    if (rc < 0)
        return rc;
    uint8_t kb[8];
    be64(kb, since + 1);
    MDB_val key = { 8, kb }, val;
    int n = 0;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0 && (size_t)n < max;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        n++;
        struct store_val ev = { (const uint8_t *)val.mv_data + 8, val.mv_size - 8 };
        if (fn(arg, read_be64(key.mv_data), ev))
            break;
    }
    mdb_cursor_close(cur);
    return n;
}

int store_idem_get(struct store *s, const char *key, uint8_t id[16])
{
    struct store_val v = { 0 };
    int rc = get(s, DB_IDEM, key, strlen(key), &v);
    if (rc)
        return rc;
    if (v.len != 16)
        return -EIO;
    memcpy(id, v.data, 16);
    return 0;
}

int store_idem_put(struct store *s, const char *key, const uint8_t id[16])
{
    return put(s, DB_IDEM, key, strlen(key), id, 16, "put idempotency key");
}

int store_idem_delete(struct store *s, const char *key)
{
    return del(s, DB_IDEM, key, strlen(key), "delete idempotency key");
}

int store_active_put(struct store *s, const uint8_t id[16], uint8_t state)
{
    return put(s, DB_ACTIVE, id, 16, &state, 1, "put active");
}

int store_active_delete(struct store *s, const uint8_t id[16])
{
    return del(s, DB_ACTIVE, id, 16, "delete active");
}

static int scan(struct store *s, int db, bool timed, store_id_fn fn, void *arg)
{
    MDB_cursor *cur;
    int rc = read_cursor(s, db, &cur);
    if (rc < 0)
        return rc;
    MDB_val key, val;
    int n = 0;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != (timed ? 24u : 16u))
            continue;
        const uint8_t *k = key.mv_data;
        n++;
        if (fn(arg, timed ? k + 8 : k, timed ? (int64_t)read_be64(k) : 0))
            break;
    }
    mdb_cursor_close(cur);
    return n;
}

int store_active_scan(struct store *s, store_id_fn fn, void *arg)
{
    return scan(s, DB_ACTIVE, false, fn, arg);
}

static void timed_key(uint8_t key[24], int64_t ms, const uint8_t id[16])
{
    be64(key, (uint64_t)ms);
    memcpy(key + 8, id, 16);
}

int store_due_put(struct store *s, int64_t due_ms, const uint8_t id[16])
{
    uint8_t key[24];
    timed_key(key, due_ms, id);
    return put(s, DB_DUE, key, 24, "", 0, "put due");
}

int store_due_delete(struct store *s, int64_t due_ms, const uint8_t id[16])
{
    uint8_t key[24];
    timed_key(key, due_ms, id);
    return del(s, DB_DUE, key, 24, "delete due");
}

int store_due_scan(struct store *s, store_id_fn fn, void *arg)
{
    return scan(s, DB_DUE, true, fn, arg);
}

int store_schema_put(struct store *s, const char *hash, const char *json, size_t len)
{
    return put(s, DB_SCHEMAS, hash, strlen(hash), json, len, "put schema");
}

int store_schema_get(struct store *s, const char *hash, struct store_val *out)
{
    return get(s, DB_SCHEMAS, hash, strlen(hash), out);
}

int store_finished_put(struct store *s, int64_t finished_ms, const uint8_t id[16])
{
    uint8_t key[24];
    timed_key(key, finished_ms, id);
    return put(s, DB_FINISHED, key, 24, "", 0, "put finished");
}

int store_prune_tasks(struct store *s, int64_t older_than_ms, uint64_t keep_max, size_t batch,
                      store_id_fn fn, void *arg)
{
    if (!s->op)
        return -EINVAL;
    MDB_stat st;
    mdb_stat(s->op, s->dbi[DB_FINISHED], &st);
    uint64_t count = st.ms_entries;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(s->op, s->dbi[DB_FINISHED], &cur);
    if (rc)
        return map_err(s, rc, "cursor");
    MDB_val key, val;
    int n = 0;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && (size_t)n < batch;
         rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST)) {
        const uint8_t *k = key.mv_data;
        int64_t ms = (int64_t)read_be64(k);
        if (count - (uint64_t)n <= keep_max && ms >= older_than_ms)
            break;
        uint8_t id[16];
        memcpy(id, k + 8, 16);
        if (fn)
            fn(arg, id, ms);
        if ((rc = store_task_delete(s, id)) < 0 || (rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        n++;
    }
    mdb_cursor_close(cur);
    if (rc > 0 && rc != MDB_NOTFOUND)
        return map_err(s, rc, "prune tasks");
    return rc < 0 ? rc : n;
}

int store_prune_events(struct store *s, int64_t older_than_ms, uint64_t keep_max, size_t batch)
{
    if (!s->op)
        return -EINVAL;
    MDB_stat st;
    mdb_stat(s->op, s->dbi[DB_EVENTS], &st);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(s->op, s->dbi[DB_EVENTS], &cur);
    if (rc)
        return map_err(s, rc, "cursor");
    MDB_val key, val;
    int n = 0;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && (size_t)n < batch;
         rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST)) {
        int64_t ms = val.mv_size >= 8 ? (int64_t)read_be64(val.mv_data) : 0;
        if (st.ms_entries - (uint64_t)n <= keep_max && ms >= older_than_ms)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        n++;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return map_err(s, rc, "prune events");
    return n;
}

/* Pages in use = pages ever allocated minus those on the free list.  Reading the free
 * list costs a scan of its (few) records. */
int store_usage(struct store *s, struct store_usage *out)
{
    MDB_envinfo info;
    MDB_stat env_st;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &env_st);
    MDB_txn *txn = read_txn(s);
    if (!txn)
        return -EIO;
    uint64_t free_pages = 0;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, 0 /* FREE_DBI */, &cur) == 0) {
        MDB_val key, val;
        for (int rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
            free_pages += *(const size_t *)val.mv_data; /* an IDL: count, then page numbers */
        mdb_cursor_close(cur);
    }
    MDB_stat st;
    out->map_bytes = info.me_mapsize;
    uint64_t pages = info.me_last_pgno + 1;
    out->used_bytes = (pages > free_pages ? pages - free_pages : 0) * env_st.ms_psize;
    mdb_stat(txn, s->dbi[DB_TASKS], &st);
    out->tasks = st.ms_entries;
    mdb_stat(txn, s->dbi[DB_EVENTS], &st);
    out->events = st.ms_entries;
    mdb_stat(txn, s->dbi[DB_ACTIVE], &st);
    out->active = st.ms_entries;
    return 0;
}

int store_backup(struct store *s, const char *path, char *err, size_t err_size)
{
    struct stat st;
    char file[4096];
    snprintf(file, sizeof(file), "%s/data.mdb", path);
    if (stat(file, &st) == 0) {
        snprintf(err, err_size, "%s already holds a store: choose an empty directory", path);
        return -EEXIST;
    }
    int rc = statedir_mkdirs(path, 0700);
    if (rc < 0) {
        snprintf(err, err_size, "cannot create %s: %s", path, strerror(-rc));
        return rc;
    }
    rc = mdb_env_copy2(s->env, path, MDB_CP_COMPACT);
    if (rc) {
        snprintf(err, err_size, "backup to %s failed: %s", path, mdb_strerror(rc));
        return rc > 0 ? -rc : -EIO;
    }
    return 0;
}
