/* libconfig settings as JSON: how a plugin's or a task type's `config` group reaches the
 * plugin, so plugins need not link libconfig. */
#ifndef TEL_CONF_JSON_H
#define TEL_CONF_JSON_H

#include <libconfig.h>
#include <jansson.h>

/* Convert a setting (group → object, array/list → array, int/int64 → integer,
 * float → real, string, bool).  Returns a new reference, or NULL when out of memory. */
json_t *conf_json_from_setting(const config_setting_t *setting);

#endif
