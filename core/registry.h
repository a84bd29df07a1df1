/* The plugin registry: loads plugin shared objects, checks their ABI before any of their
 * code runs, initialises them, and unwinds a plugin whose init fails. */
#ifndef TEL_REGISTRY_H
#define TEL_REGISTRY_H

#include <stdbool.h>
#include <tel/plugin.h>

#include "conf.h"

/* The host side of struct tel_context: identifies one plugin instance. */
struct tel_context {
    const char *name;   /* the instance name from the config */
    const char *plugin; /* the plugin's own name (its struct's), for metric names */
};

struct plugin_instance {
    char *name;                       /* instance name (config `name`) */
    char *path;                       /* absolute path of the shared object */
    void *dl;                         /* dlopen handle */
    struct tel_plugin desc;           /* the plugin's struct, fields past its size zeroed */
    struct tel_executor_ops executor; /* copied likewise; valid when has_executor */
    struct tel_validator_ops validator;
    bool has_executor, has_validator;
    void *state;                      /* plugin-owned, from init */
    bool initialised;
    struct tel_context ctx;
};

struct registry {
    struct plugin_instance **items;
    size_t count;
};

/* Where the shared object of a config entry is: bare names from plugin_dir (NAME.so),
 * paths with a '/' relative to the config's directory.  Caller frees. */
char *registry_resolve_path(const struct tel_config *cfg, const struct config_plugin *cp);

/* Load, check and initialise one plugin.  Returns 0, or a negative errno with a one-line
 * reason in err (which names the file).  On failure nothing of it stays loaded. */
int registry_load(struct registry *reg, const struct tel_config *cfg,
                  const struct config_plugin *cp, const struct tel_host *host, char *err,
                  size_t err_size);

struct plugin_instance *registry_find(const struct registry *reg, const char *name);

/* fini every instance (in reverse load order) and dlclose it. */
void registry_unload_all(struct registry *reg);

#endif
