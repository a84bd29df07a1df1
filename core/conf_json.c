#include "config.h"
#include "conf_json.h"

json_t *conf_json_from_setting(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
        return json_integer(config_setting_get_int(s));
    case CONFIG_TYPE_INT64:
        return json_integer(config_setting_get_int64(s));
    case CONFIG_TYPE_FLOAT:
        return json_real(config_setting_get_float(s));
    case CONFIG_TYPE_STRING:
        return json_string(config_setting_get_string(s));
    case CONFIG_TYPE_BOOL:
        return json_boolean(config_setting_get_bool(s));
    case CONFIG_TYPE_GROUP:
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST: {
        int group = config_setting_type(s) == CONFIG_TYPE_GROUP;
        json_t *out = group ? json_object() : json_array();
        if (!out)
            return NULL;
        int n = config_setting_length(s);
        for (int i = 0; i < n; i++) {
            const config_setting_t *child = config_setting_get_elem(s, (unsigned)i);
            json_t *v = conf_json_from_setting(child);
            int rc = !v ? -1
                     : group ? json_object_set_new(out, config_setting_name(child), v)
                             : json_array_append_new(out, v);
            if (rc < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    default:
        return json_null();
    }
}
