/* Runs the official JSON-Schema-Test-Suite against the jsonschema plugin, loaded the way
 * the host loads it (dlopen + the tel_plugin symbol).
 *
 *   conformance PLUGIN.so [FILTER]
 *
 * The suite is looked for in $TEL_TESTDATA (default: the TEL_TESTDATA define) and its
 * json-schema-test-suite/ subdirectory.  http://localhost:1234/ is served from the
 * suite's remotes/ directory through the plugin's own schema_dirs setting (a URI maps
 * to the file named by its trailing path segments), so no test-only code path exists
 * in the plugin.  Required tests of tests/draft2020-12 and tests/draft7 must all pass
 * except those listed in skips.txt (next to this file, or $TEL_JS_SKIPS); results of
 * optional/ are reported but never fail the run.  Exit: 0 pass, 1 fail, 77 no suite. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tel/plugin.h>

#ifndef TEL_TESTDATA
#define TEL_TESTDATA "../shared/testdata"
#endif
#ifndef TEL_JS_SKIPS
#define TEL_JS_SKIPS "tests/jsonschema/skips.txt"
#endif

struct counts {
    unsigned passed, failed, skipped;
};

struct skip {
    char *file, *group, *test;
};

static struct skip *skips;
static size_t n_skips;
static const char *filter;

static const struct tel_host host = {
    .abi_major = TEL_ABI_MAJOR,
    .abi_minor = TEL_ABI_MINOR,
    .size = sizeof(struct tel_host),
    .host_version = "conformance",
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* skips.txt: "file | group description | test description (or *) | reason" */
static void load_skips(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        printf("note: no skip list at %s\n", path);
        return;
    }
    char line[2048];
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s = trim(line);
        if (*s == '#' || *s == '\0')
            continue;
        char *parts[4] = {0};
        for (int i = 0; i < 4; i++) {
            parts[i] = s;
            char *bar = i < 3 ? strstr(s, " | ") : NULL;
            if (bar == NULL)
                break;
            *bar = '\0';
            s = bar + 3;
        }
        if (parts[3] == NULL) {
            printf("skips.txt: ignoring malformed line (want: file | group | test | reason)\n");
            continue;
        }
        skips = realloc(skips, (n_skips + 1) * sizeof(*skips));
        skips[n_skips].file = strdup(trim(parts[0]));
        skips[n_skips].group = strdup(trim(parts[1]));
        skips[n_skips].test = strdup(trim(parts[2]));
        n_skips++;
    }
    fclose(f);
}

static bool is_skipped(const char *file, const char *group, const char *test)
{
    for (size_t i = 0; i < n_skips; i++)
        if (strcmp(skips[i].file, file) == 0 && strcmp(skips[i].group, group) == 0 &&
            (strcmp(skips[i].test, "*") == 0 || strcmp(skips[i].test, test) == 0))
            return true;
    return false;
}

struct instance {
    const struct tel_plugin *plugin;
    void *state;
};

static int open_instance(const struct tel_plugin *p, const char *remotes, const char *dialect,
                         bool formats, struct instance *out)
{
    char err[512] = "";
    json_t *cfg = json_pack("{s:[s], s:s, s:b}", "schema_dirs", remotes, "default_dialect", dialect,
                            "format_assertion", formats);
    out->plugin = p;
    int rc = p->init(&host, NULL, cfg, &out->state, err, sizeof(err));
    json_decref(cfg);
    if (rc < 0)
        fprintf(stderr, "init failed: %s\n", err);
    return rc;
}

static bool errors_well_formed(json_t *errors)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) {
        if (!json_is_string(json_object_get(e, "instance_path")) ||
            !json_is_string(json_object_get(e, "schema_path")) ||
            !json_is_string(json_object_get(e, "message")))
            return false;
    }
    return true;
}

static void run_file(const struct instance *in, const char *path, const char *rel, struct counts *total)
{
    json_error_t jerr;
    json_t *groups = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (groups == NULL) /* optional/bignum.json has integers beyond 64 bits */
        groups = json_load_file(path, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    if (groups == NULL) {
        printf("%s: cannot parse: %s\n", rel, jerr.text);
        total->failed++;
        return;
    }
    struct counts c = {0};
    size_t gi;
    json_t *g;
    json_array_foreach(groups, gi, g) {
        const char *gdesc = json_string_value(json_object_get(g, "description"));
        void *compiled = NULL;
        char err[512] = "";
        int rc = in->plugin->validator->compile(in->state, json_object_get(g, "schema"), NULL, &compiled,
                                                err, sizeof(err));
        size_t ti;
        json_t *t;
        json_array_foreach(json_object_get(g, "tests"), ti, t) {
            const char *tdesc = json_string_value(json_object_get(t, "description"));
            bool want = json_is_true(json_object_get(t, "valid"));
            bool skipped = is_skipped(rel, gdesc, tdesc);
            const char *why = NULL;
            char detail[700] = "";
            if (rc < 0) {
                why = "compile failed";
                snprintf(detail, sizeof(detail), "%s", err);
            } else {
                json_t *errors = json_array();
                int v = in->plugin->validator->validate(in->state, compiled, json_object_get(t, "data"), errors);
                if (v < 0) {
                    why = "internal error";
                    snprintf(detail, sizeof(detail), "%s",
                             json_string_value(json_object_get(json_array_get(errors, 0), "message")));
                } else if ((v == 0) != want) {
                    why = want ? "rejected a valid instance" : "accepted an invalid instance";
                    if (json_array_size(errors) > 0)
                        snprintf(detail, sizeof(detail), "%s at %s",
                                 json_string_value(json_object_get(json_array_get(errors, 0), "message")),
                                 json_string_value(json_object_get(json_array_get(errors, 0), "schema_path")));
                } else if ((v == 0) != (json_array_size(errors) == 0) || !errors_well_formed(errors)) {
                    why = "verdict and error list disagree";
                }
                json_decref(errors);
            }
            if (skipped) {
                c.skipped++;
                if (why == NULL)
                    printf("  note: %s | %s | %s passes but is in skips.txt\n", rel, gdesc, tdesc);
            } else if (why == NULL) {
                c.passed++;
            } else {
                c.failed++;
                printf("  FAIL %s | %s | %s: %s%s%s\n", rel, gdesc, tdesc, why, detail[0] ? ": " : "", detail);
            }
        }
        if (rc == 0 && in->plugin->validator->release != NULL)
            in->plugin->validator->release(in->state, compiled);
    }
    json_decref(groups);
    printf("%-48s %4u passed, %u failed, %u skipped\n", rel, c.passed, c.failed, c.skipped);
    total->passed += c.passed;
    total->failed += c.failed;
    total->skipped += c.skipped;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Every *.json under dir (recursively), sorted, relative names prefixed with rel. */
static void run_dir(const struct instance *in, const struct instance *formats, const char *dir,
                    const char *rel, bool recurse, struct counts *total)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, by_name);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char *path, *r;
        if (name[0] == '.' || asprintf(&path, "%s/%s", dir, name) < 0) {
            free(names[i]);
            continue;
        }
        if (asprintf(&r, "%s/%s", rel, name) < 0)
            r = NULL;
        struct stat st;
        if (r != NULL && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (recurse)
                run_dir(strcmp(name, "format") == 0 ? formats : in, formats, path, r, true, total);
        } else if (r != NULL && strlen(name) > 5 && strcmp(name + strlen(name) - 5, ".json") == 0 &&
                   (filter == NULL || strstr(r, filter) != NULL)) {
            run_file(in, path, r, total);
        }
        free(r);
        free(path);
        free(names[i]);
    }
    free(names);
}

static char *find_suite(void)
{
    const char *base = getenv("TEL_TESTDATA");
    if (base == NULL || *base == '\0')
        base = TEL_TESTDATA;
    for (size_t i = 0; i < 2; i++) {
        char *p, *tests;
        if (asprintf(&p, "%s%s", base, i == 0 ? "/json-schema-test-suite" : "") < 0)
            return NULL;
        struct stat st;
        if (asprintf(&tests, "%s/tests/draft2020-12", p) >= 0 && stat(tests, &st) == 0 && S_ISDIR(st.st_mode)) {
            free(tests);
            return p;
        }
        free(tests);
        free(p);
    }
    printf("SKIP: JSON-Schema-Test-Suite not found under %s (set TEL_TESTDATA)\n", base);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN.so [FILTER]\n", argv[0]);
        return 2;
    }
    filter = argc > 2 ? argv[2] : NULL;
    char *suite = find_suite();
    if (suite == NULL)
        return 77;
    const char *skip_file = getenv("TEL_JS_SKIPS") ? getenv("TEL_JS_SKIPS") : TEL_JS_SKIPS;
    load_skips(skip_file);

    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    const struct tel_plugin *p = h ? dlsym(h, TEL_PLUGIN_SYMBOL) : NULL;
    if (p == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    if (p->abi_major != TEL_ABI_MAJOR || p->size < sizeof(struct tel_plugin) || p->validator == NULL) {
        fprintf(stderr, "%s: ABI %u.%u size %u is not a validator this runner understands\n", argv[1],
                p->abi_major, p->abi_minor, p->size);
        return 1;
    }

    static const struct {
        const char *dir, *dialect;
    } drafts[] = {{"draft2020-12", "2020-12"}, {"draft7", "draft-07"}};
    char *remotes;
    if (asprintf(&remotes, "%s/remotes", suite) < 0)
        return 1;
    unsigned required_failed = 0;
    struct counts all = {0};
    for (size_t d = 0; d < 2; d++) {
        struct instance plain, formats;
        if (open_instance(p, remotes, drafts[d].dialect, false, &plain) < 0 ||
            open_instance(p, remotes, drafts[d].dialect, true, &formats) < 0)
            return 1;
        char *dir, *opt, *rel_opt;
        if (asprintf(&dir, "%s/tests/%s", suite, drafts[d].dir) < 0 ||
            asprintf(&opt, "%s/optional", dir) < 0 || asprintf(&rel_opt, "%s/optional", drafts[d].dir) < 0)
            return 1;
        struct counts req = {0}, optional = {0};
        printf("== %s: required ==\n", drafts[d].dir);
        run_dir(&plain, &formats, dir, drafts[d].dir, false, &req);
        printf("== %s: optional ==\n", drafts[d].dir);
        run_dir(&plain, &formats, opt, rel_opt, true, &optional);
        printf("%s required: %u passed, %u failed, %u skipped; optional: %u passed, %u failed\n",
               drafts[d].dir, req.passed, req.failed, req.skipped, optional.passed, optional.failed);
        required_failed += req.failed;
        all.passed += req.passed;
        all.failed += req.failed;
        all.skipped += req.skipped;
        p->fini(plain.state);
        p->fini(formats.state);
        free(dir);
        free(opt);
        free(rel_opt);
    }
    printf("%u passed, %u failed, %u skipped\n", all.passed, all.failed, all.skipped);
    free(remotes);
    free(suite);
    for (size_t i = 0; i < n_skips; i++) {
        free(skips[i].file);
        free(skips[i].group);
        free(skips[i].test);
    }
    free(skips);
    dlclose(h);
    return required_failed == 0 ? 0 : 1;
}
