/* The client side of teld's socket API (see client.h). */
#include "config.h"
#include "client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

struct client {
    int fd;
    int timeout_ms;
    size_t max_line;
    json_int_t last_id;
    /* bytes read and not yet handed out as lines: buf[start, len) */
    char *buf;
    size_t start, len, cap;
    size_t scanned;          /* buf[start, scanned) has no newline */
    bool eof;
    /* messages read while waiting for another reply: a FIFO */
    struct client_msg *queue;
    size_t q_head, q_len, q_cap;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_of(int timeout_ms) { return timeout_ms < 0 ? -1 : now_ms() + timeout_ms; }

/* Milliseconds left for poll(2): -1 without a deadline, 0 once it passed. */
static int remaining(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - now_ms();
    return left <= 0 ? 0 : left > 1000000000 ? 1000000000 : (int)left;
}

/* Wait for fd to be ready for `events`.  0, -ETIMEDOUT or -EINTR. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    int rc = poll(&p, 1, remaining(deadline));
    if (rc < 0)
        return -errno;
    return rc == 0 ? -ETIMEDOUT : 0;
}

int client_connect(const char *path, int timeout_ms, struct client **out)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int64_t deadline = deadline_of(timeout_ms);
    int rc;
    for (;;) {
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            rc = 0;
            break;
        }
        rc = -errno;
        if (rc == -EINPROGRESS) {
            rc = wait_fd(fd, POLLOUT, deadline);
            int so_error = 0;
            socklen_t n = sizeof(so_error);
            if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &n) < 0)
                rc = -errno;
            if (rc == 0)
                rc = -so_error;
            break;
        }
        /* EAGAIN: the listener's backlog is full; it may drain before the deadline */
        if (rc != -EAGAIN && rc != -EINTR)
            break;
        if (remaining(deadline) == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        struct timespec pause = { .tv_nsec = 10 * 1000000 };
        nanosleep(&pause, NULL);
    }
    struct client *c = rc == 0 ? calloc(1, sizeof(*c)) : NULL;
    if (rc == 0 && !c)
        rc = -ENOMEM;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    c->fd = fd;
    c->timeout_ms = timeout_ms;
    c->max_line = CLIENT_DEFAULT_MAX_LINE;
    *out = c;
    return 0;
}

void client_msg_free(struct client_msg *msg)
{
    json_decref(msg->root);
    free(msg->line);
    *msg = (struct client_msg){ 0 };
}

void client_close(struct client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->q_len; i++)
        client_msg_free(&c->queue[(c->q_head + i) % c->q_cap]);
    free(c->queue);
    free(c->buf);
    close(c->fd);
    free(c);
}

void client_set_max_line(struct client *c, size_t max_line) { c->max_line = max_line; }
void client_set_timeout(struct client *c, int timeout_ms) { c->timeout_ms = timeout_ms; }
int client_fd(const struct client *c) { return c->fd; }
bool client_has_queued(const struct client *c) { return c->q_len > 0; }

static int write_all(struct client *c, const char *data, size_t len)
{
    int64_t deadline = deadline_of(c->timeout_ms);
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        int rc = n < 0 ? -errno : -EPIPE;
        if (rc == -EPIPE)
            return -ECONNRESET;
        if (rc != -EAGAIN && rc != -EINTR)
            return rc;
        if ((rc = wait_fd(c->fd, POLLOUT, deadline)) < 0)
            return rc;
    }
    return 0;
}

int client_send(struct client *c, const char *method, json_t *params, json_int_t *id_out)
{
    json_int_t id = ++c->last_id;
    json_t *req = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", id, "method", method);
    if (!req)
        return -ENOMEM;
    if (params)
        json_object_set(req, "params", params);
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!text)
        return -ENOMEM;
    size_t len = strlen(text);
    /* json_dumps never writes a raw newline: the line ends where we say */
    char *line = realloc(text, len + 2);
    if (!line) {
        free(text);
        return -ENOMEM;
    }
    line[len] = '\n';
    int rc = write_all(c, line, len + 1);
    free(line);
    if (rc == 0 && id_out)
        *id_out = id;
    return rc;
}

/* Parse one line into msg (taking ownership of line). */
static int parse_line(char *line, size_t len, struct client_msg *msg)
{
    *msg = (struct client_msg){ .line = line, .len = len, .id = -1 };
    msg->root = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(msg->root)) {
        client_msg_free(msg);
        return -EBADMSG;
    }
    json_t *root = msg->root;
    msg->method = json_string_value(json_object_get(root, "method"));
    msg->params = json_object_get(root, "params");
    json_t *id = json_object_get(root, "id");
    if (json_is_integer(id))
        msg->id = json_integer_value(id);
    msg->result = json_object_get(root, "result");
    msg->error = json_object_get(root, "error");
    if (msg->error) {
        msg->error_code = (int)json_integer_value(json_object_get(msg->error, "code"));
        msg->error_message = json_string_value(json_object_get(msg->error, "message"));
        if (msg->error_code == 0) /* a malformed error is still an error */
            msg->error_code = -32603;
    }
    if (!msg->error_message)
        msg->error_message = "";
    return 0;
}

/* A complete line out of the buffer, if there is one.  1 (msg filled), 0 (need more) or
 * a negative errno. */
static int take_line(struct client *c, struct client_msg *msg)
{
    if (c->scanned == c->len) /* nothing new (and maybe no buffer yet) */
        return c->len - c->start > c->max_line ? -EMSGSIZE : 0;
    char *nl = memchr(c->buf + c->scanned, '\n', c->len - c->scanned);
    if (!nl) {
        c->scanned = c->len;
        return c->len - c->start > c->max_line ? -EMSGSIZE : 0;
    }
    size_t len = (size_t)(nl - (c->buf + c->start));
    if (len > c->max_line)
        return -EMSGSIZE;
    char *line = malloc(len + 1);
    if (!line)
        return -ENOMEM;
    memcpy(line, c->buf + c->start, len);
    line[len] = '\0';
    c->start += len + 1;
    c->scanned = c->start;
    if (c->start == c->len)
        c->start = c->len = c->scanned = 0;
    int rc = parse_line(line, len, msg);
    return rc < 0 ? rc : 1;
}

/* Read more bytes into the buffer, waiting until the deadline. */
static int fill(struct client *c, int64_t deadline)
{
    if (c->eof)
        return -ECONNRESET;
    if (c->start > 0 && c->start * 2 >= c->cap) { /* reclaim the consumed front */
        memmove(c->buf, c->buf + c->start, c->len - c->start);
        c->len -= c->start;
        c->scanned -= c->start;
        c->start = 0;
    }
    if (c->cap - c->len < 4096) {
        size_t cap = c->cap ? c->cap * 2 : 16384;
        char *buf = realloc(c->buf, cap);
        if (!buf)
            return -ENOMEM;
        c->buf = buf;
        c->cap = cap;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            return 0;
        }
        if (n == 0) {
            c->eof = true;
            return -ECONNRESET;
        }
        if (errno != EAGAIN && errno != EINTR)
            return errno == ECONNRESET ? -ECONNRESET : -errno;
        int rc = wait_fd(c->fd, POLLIN, deadline);
        if (rc < 0)
            return rc;
    }
}

static int read_message(struct client *c, int64_t deadline, struct client_msg *msg)
{
    for (;;) {
        int rc = take_line(c, msg);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        if ((rc = fill(c, deadline)) < 0)
            return rc;
    }
}

static int enqueue(struct client *c, struct client_msg *msg)
{
    if (c->q_len == c->q_cap) {
        size_t cap = c->q_cap ? c->q_cap * 2 : 16;
        struct client_msg *q = malloc(cap * sizeof(*q));
        if (!q)
            return -ENOMEM;
        for (size_t i = 0; i < c->q_len; i++)
            q[i] = c->queue[(c->q_head + i) % c->q_cap];
        free(c->queue);
        c->queue = q;
        c->q_cap = cap;
        c->q_head = 0;
    }
    c->queue[(c->q_head + c->q_len) % c->q_cap] = *msg;
    c->q_len++;
    *msg = (struct client_msg){ 0 };
    return 0;
}

/* Remove queue entry i (counted from the head), keeping the others in order. */
static void dequeue_at(struct client *c, size_t i, struct client_msg *msg)
{
    *msg = c->queue[(c->q_head + i) % c->q_cap];
    for (; i > 0; i--)
        c->queue[(c->q_head + i) % c->q_cap] = c->queue[(c->q_head + i - 1) % c->q_cap];
    c->q_head = (c->q_head + 1) % c->q_cap;
    c->q_len--;
}

int client_next(struct client *c, int timeout_ms, struct client_msg *msg)
{
    *msg = (struct client_msg){ .id = -1 };
    if (c->q_len > 0) {
        dequeue_at(c, 0, msg);
        return 0;
    }
    return read_message(c, deadline_of(timeout_ms >= 0 ? timeout_ms : c->timeout_ms), msg);
}

/* Is msg the reply to request `id`?  An error with a null id counts: teld answers so when
 * it could not read the request at all (one over its size limit), then closes. */
static bool answers(const struct client_msg *msg, json_int_t id)
{
    return !msg->method && (msg->id == id || (msg->id == -1 && msg->error &&
                                              json_is_null(json_object_get(msg->root, "id"))));
}

int client_wait_reply(struct client *c, json_int_t id, struct client_msg *msg)
{
    *msg = (struct client_msg){ .id = -1 };
    for (size_t i = 0; i < c->q_len; i++) {
        const struct client_msg *q = &c->queue[(c->q_head + i) % c->q_cap];
        if (answers(q, id)) {
            dequeue_at(c, i, msg);
            return 0;
        }
    }
    int64_t deadline = deadline_of(c->timeout_ms);
    for (;;) {
        int rc = read_message(c, deadline, msg);
        if (rc < 0)
            return rc;
        if (answers(msg, id))
            return 0;
        if ((rc = enqueue(c, msg)) < 0) {
            client_msg_free(msg);
            return rc;
        }
    }
}

int client_call(struct client *c, const char *method, json_t *params, struct client_msg *msg)
{
    *msg = (struct client_msg){ .id = -1 };
    json_int_t id;
    int rc = client_send(c, method, params, &id);
    if (rc == -ECONNRESET) {
        /* teld may have refused the request and closed while we wrote: its answer can
         * still be read */
        rc = client_wait_reply(c, c->last_id, msg);
        return rc == 0 ? 0 : -ECONNRESET;
    }
    return rc < 0 ? rc : client_wait_reply(c, id, msg);
}

/* ---- finding a member's raw text in a line ---- */

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* p at an opening quote: the position after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* p at the start of a value: the position after it, or NULL when the text is cut short. */
static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                if (!(p = skip_string(p, end)))
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    while (p < end && !strchr(",}] \t\r\n", *p))
        p++;
    return p;
}

int client_msg_member_raw(const struct client_msg *msg, const char *key, const char **start,
                          size_t *len)
{
    const char *p = msg->line, *end = msg->line + msg->len;
    size_t key_len = strlen(key);
    p = skip_space(p, end);
    if (p >= end || *p++ != '{')
        return -ENOENT;
    for (;;) {
        p = skip_space(p, end);
        if (p >= end || *p != '"')
            return -ENOENT;
        const char *name = p + 1, *after = skip_string(p, end);
        if (!after)
            return -ENOENT;
        /* teld's envelope keys are plain ASCII: compared without unescaping */
        bool match = (size_t)(after - 1 - name) == key_len && memcmp(name, key, key_len) == 0;
        p = skip_space(after, end);
        if (p >= end || *p++ != ':')
            return -ENOENT;
        p = skip_space(p, end);
        const char *value_end = skip_value(p, end);
        if (!value_end)
            return -ENOENT;
        if (match) {
            *start = p;
            *len = (size_t)(value_end - p);
            return 0;
        }
        p = skip_space(value_end, end);
        if (p >= end || *p++ != ',')
            return -ENOENT;
    }
}
