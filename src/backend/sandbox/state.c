/* dir/sandbox.json: what destroy() needs beyond dir and id. Written before
 * anything else is created, so a start interrupted at any point (or a
 * monitor killed with SIGKILL) leaves enough on disk to clean up. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "backend/sandbox/internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/record.h"
#include "base/relpath.h"

#define STATE_FILE "sandbox.json"

int sandbox_state_save(const char *dir, const struct sandbox_state *st, pyro_error *err)
{
    json_t *rec = json_object();
    json_set(rec, "schema_version", json_integer(1));
    json_set(rec, "id", json_string(st->id));
    json_set(rec, "cgroup_parent", json_string(st->cgroup_parent));
    json_set(rec, "network", json_boolean(st->network));
    if (st->cgroup)
        json_set(rec, "cgroup", json_string(st->cgroup));
    if (st->user_net) {
        json_set(rec, "user_net", json_true());
        json_set(rec, "pasta_pid", json_integer(st->pasta_pid));
        json_set(rec, "pasta_start", json_integer(st->pasta_start));
    }
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, STATE_FILE);
    int r = record_save(path, rec, err);
    json_decref(rec);
    return r;
}

int sandbox_state_load(const char *dir, struct sandbox_state *st, pyro_error *err)
{
    *st = (struct sandbox_state){0};
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, STATE_FILE);
    json_t *rec = NULL;
    int r = record_load_existing(path, &rec, err);
    if (r < 0)
        return r;
    const char *id = json_get_str(rec, "id", NULL);
    const char *parent = json_get_str(rec, "cgroup_parent", NULL);
    if (!id || !parent || relpath_check(parent, RELPATH_CANONICAL, NULL) < 0) {
        json_decref(rec);
        return err_set(err, -PYRO_E_CORRUPT, "%s: missing or bad id or cgroup_parent", path);
    }
    st->id = xstrdup(id);
    st->cgroup_parent = xstrdup(parent);
    const char *cg = json_get_str(rec, "cgroup", NULL);
    st->cgroup = cg ? xstrdup(cg) : NULL;
    st->network = json_get_bool(rec, "network", false);
    st->user_net = json_get_bool(rec, "user_net", false);
    long long pp = json_get_int(rec, "pasta_pid", 0);
    st->pasta_pid = pp > 0 && pp < INT32_MAX ? (pid_t)pp : 0;
    st->pasta_start = json_get_int(rec, "pasta_start", 0);
    json_decref(rec);
    return 0;
}

void sandbox_state_free(struct sandbox_state *st)
{
    free(st->id);
    free(st->cgroup_parent);
    free(st->cgroup);
    *st = (struct sandbox_state){0};
}
