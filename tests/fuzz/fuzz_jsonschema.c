/* libFuzzer target for the jsonschema plugin: the input is a schema and an instance,
 * separated by the first newline (a leading 'F' turns format assertions on).  Both are
 * parsed with jansson; the schema is compiled and, when it compiles, the instance is
 * validated.  Any crash, leak or sanitizer report is a bug; bad input must only ever
 * produce a compile error or validation errors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tel/plugin.h>

extern const struct tel_plugin tel_plugin;

static const struct tel_host host = {
    .abi_major = TEL_ABI_MAJOR, .abi_minor = TEL_ABI_MINOR, .size = sizeof(struct tel_host),
};
static void *plain_state, *format_state;

static void *make_state(const char *config_json)
{
    char err[256];
    void *state = NULL;
    json_t *cfg = json_loads(config_json, 0, NULL);
    if (tel_plugin.init(&host, NULL, cfg, &state, err, sizeof(err)) < 0)
        abort();
    json_decref(cfg);
    return state;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (plain_state == NULL) {
        plain_state = make_state("{}");
        format_state = make_state("{\"format_assertion\": true}");
    }
    void *state = plain_state;
    if (size > 0 && data[0] == 'F') {
        state = format_state;
        data++;
        size--;
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t schema_len = nl ? (size_t)(nl - data) : size;
    const int flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_t *schema = json_loadb((const char *)data, schema_len, flags, NULL);
    json_t *instance = nl ? json_loadb((const char *)nl + 1, size - schema_len - 1, flags, NULL) : NULL;
    if (schema != NULL) {
        char err[512];
        void *compiled = NULL;
        if (tel_plugin.validator->compile(state, schema, NULL, &compiled, err, sizeof(err)) == 0) {
            json_t *errors = json_array();
            int rc = tel_plugin.validator->validate(state, compiled, instance ? instance : schema, errors);
            /* the contract: 0 with no errors, otherwise at least one error object */
            if ((rc == 0) != (json_array_size(errors) == 0))
                abort();
            json_decref(errors);
            tel_plugin.validator->release(state, compiled);
        } else if (err[0] == '\0') {
            abort(); /* a failed compile must say why */
        }
    }
    json_decref(schema);
    json_decref(instance);
    return 0;
}
