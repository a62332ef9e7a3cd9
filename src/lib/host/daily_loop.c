/* The daily-loop manifest of `pyro prepare` and its verdict. */
#include "lib/host/daily_loop.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/record.h"

static char *manifest_path(const char *cache_dir, const char *env)
{
    char name[160];
    size_t k = 0;
    for (const char *p = env; *p && k + 1 < sizeof(name); p++)
        name[k++] = (*p == '/' || *p == ':' || *p == '.') ? '_' : *p;
    name[k] = '\0';
    return xasprintf("%s/daily-loop/%s.json", cache_dir, name);
}

int daily_loop_record(const char *cache_dir, const char *env, json_t *rec, pyro_error *err)
{
    _cleanup_free_ char *dir = xasprintf("%s/daily-loop", cache_dir);
    int r = mkdir_p(dir, 0700, err);
    if (r < 0)
        return r;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    json_object_set_new(rec, "environment", json_string(env));
    json_object_set_new(rec, "pyro_version", json_string(PYRO_VERSION));
    json_object_set_new(rec, "prepared_at", json_string(when));
    json_object_set_new(rec, "schema_version", json_integer(1));
    _cleanup_free_ char *path = manifest_path(cache_dir, env);
    return record_save(path, rec, err);
}

json_t *daily_loop_verdict(const char *cache_dir, const char *env)
{
    _cleanup_free_ char *path = manifest_path(cache_dir, env);
    json_t *v = json_pack("{s:s, s:s}", "environment", env, "manifest_path", path);
    json_auto_t *m = NULL;
    pyro_error err = {0};
    int r = record_load_existing(path, &m, &err);
    const char *status = "warm", *reason = "prepared by this pyro version; its environment is installed";
    char buf[512];
    if (r == -ENOENT) {
        status = "cold";
        reason = "not prepared yet: run 'pyro prepare ENV'";
    } else if (r < 0) {
        status = "stale";
        snprintf(buf, sizeof(buf), "unreadable manifest: %s", err.message);
        reason = buf;
    } else if (strcmp(json_get_str(m, "pyro_version", ""), PYRO_VERSION)) {
        status = "stale";
        snprintf(buf, sizeof(buf), "prepared by pyro %s, this is %s: run 'pyro prepare ENV' again",
                 json_get_str(m, "pyro_version", "?"), PYRO_VERSION);
        reason = buf;
    } else {
        _cleanup_free_ char *inst = xasprintf("%s/manifest.json", json_get_str(m, "install_path", "/nonexistent"));
        if (access(inst, F_OK) < 0) {
            status = "stale";
            reason = "the environment install it proved is gone: run 'pyro prepare ENV' again";
        }
    }
    json_object_set_new(v, "status", json_string(status));
    json_object_set_new(v, "reason", json_string(reason));
    if (m && json_get_str(m, "prepared_at", NULL))
        json_object_set_new(v, "prepared_at", json_string(json_get_str(m, "prepared_at", "")));
    if (m && json_get_str(m, "execution_mode", NULL))
        json_object_set_new(v, "execution_mode", json_string(json_get_str(m, "execution_mode", "")));
    return v;
}
