/* libFuzzer target for the API's request reader: one input is one request line (without
 * its '\n').  rpc_parse_request reads simple lines itself and must agree with
 * rpc_parse_request_full (jansson) on every line: the verdict, the message, the method,
 * params and id.  A disagreement aborts; so does any crash, leak or sanitizer report. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_value(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    return json_typeof(a) == json_typeof(b) && json_equal(a, b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    struct rpc_request fast, full;
    char fast_msg[512] = "", full_msg[512] = "";
    int fast_rc = rpc_parse_request(line, size, &fast, fast_msg, sizeof(fast_msg));
    int full_rc = rpc_parse_request_full(line, size, &full, full_msg, sizeof(full_msg));
    if (fast_rc != full_rc || strcmp(fast_msg, full_msg) != 0 ||
        (fast_rc == 0 && strcmp(fast.method, full.method) != 0) ||
        !same_value(fast.params, full.params) || !same_value(fast.id, full.id))
        abort();
    rpc_request_release(&fast);
    rpc_request_release(&full);
    return 0;
}
