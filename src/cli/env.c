/* Human output of `pyro env list|pull|inspect|prune`. */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "cli/cli.h"

int cli_print_env_list(struct cli_run *run, json_t *result)
{
    printf("Catalog version: %s\n", json_get_str(result, "catalog_version", ""));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(result, "environments"), i, e) {
        const char *status = json_get_str(e, "status", "");
        char state[48], size[32] = "";
        snprintf(state, sizeof(state), "[%s]", !strcmp(status, "not_installed") ? "not installed" : status);
        if (json_get_bool(e, "installed", false))
            human_size(json_get_int(e, "size_bytes", 0), size, sizeof(size));
        printf("%-16s %-16s %-10s %s%s\n", json_get_str(e, "name", ""), state, size, json_get_str(e, "description", ""),
               json_get_bool(e, "default", false) ? " (default)" : "");
    }
    return 0;
}

int cli_print_env_pull(struct cli_run *run, json_t *result)
{
    const char *action = json_get_str(result, "action", "");
    char size[32];
    human_size(json_get_int(result, "size_bytes", 0), size, sizeof(size));
    if (!strcmp(action, "reused"))
        printf("%s is installed and verified (%s, %lld packages)\n", json_get_str(result, "name", ""), size,
               json_get_int(result, "package_count", 0));
    else
        printf("%s %s in %.1f s (%s, %lld packages)\n", json_get_str(result, "name", ""), action,
               (double)json_get_int(result, "build_ms", 0) / 1000.0, size, json_get_int(result, "package_count", 0));
    printf("rootfs: %s\n", json_get_str(result, "rootfs_path", ""));
    return 0;
}

int cli_print_env_inspect(struct cli_run *run, json_t *result)
{
    static const char *const keys[] = {"name",         "description",      "version",    "status",        "problem",
                                       "cache_path",   "rootfs_path",      "size_bytes", "package_count", "built_at",
                                       "stale_builds", "pull_in_progress", NULL};
    json_auto_t *view = json_object();
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(result, keys[i]);
        if (v && !json_is_null(v))
            json_object_set(view, keys[i], v);
    }
    const json_t *m = json_object_get(result, "manifest");
    if (json_is_object(m)) {
        json_object_set(view, "mirror", json_object_get(m, "mirror"));
        json_object_set(view, "artifacts", json_object_get(m, "artifacts"));
    }
    cli_print_kv(view);
    return 0;
}

int cli_print_env_prune(struct cli_run *run, json_t *result)
{
    char size[32];
    human_size(json_get_int(result, "freed_bytes", 0), size, sizeof(size));
    printf("Removed %lld item(s), freed %s\n", json_get_int(result, "removed_count", 0), size);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(result, "removed"), i, e)
        printf("  removed %-20s %s (%s)\n", json_get_str(e, "reason", ""), json_get_str(e, "path", ""),
               json_get_str(e, "environment", ""));
    json_array_foreach(json_object_get(result, "kept_in_use"), i, e) {
        _cleanup_free_ char *users = json_dump(json_object_get(e, "used_by"), 0);
        printf("  kept    %-20s %s (used by %s)\n", json_get_str(e, "reason", ""), json_get_str(e, "path", ""), users);
    }
    json_array_foreach(json_object_get(result, "skipped_busy"), i, e)
        printf("  skipped %s: a pull is running\n", json_string_value(e));
    return 0;
}
