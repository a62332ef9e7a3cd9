/* dir/vm.json: written before QEMU's cgroup, network or process exist and
 * again with its pid, so a start interrupted at any point (or a monitor
 * killed with SIGKILL) leaves enough on disk to clean up: the cgroup is
 * <cgroup_parent>/<id>, the veth and the guard rules are named after id. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "backend/vm/internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/record.h"
#include "base/relpath.h"

#define STATE_FILE "vm.json"

int vm_state_save(const char *dir, const struct vm_state *st, pyro_error *err)
{
    json_auto_t *rec = json_pack("{s:i, s:s, s:i, s:I, s:s, s:b, s:s, s:b}", "schema_version", 1, "id", st->id,
                                 "qemu_pid", (int)st->qemu_pid, "qemu_start_time", (json_int_t)st->qemu_start, "disk",
                                 st->disk, "disk_owned", st->disk_owned, "cgroup_parent",
                                 st->cgroup_parent ? st->cgroup_parent : "pyro", "network", st->network);
    if (st->rootless) {
        json_set(rec, "rootless", json_true());
        if (st->cgroup)
            json_set(rec, "cgroup", json_string(st->cgroup));
        json_set(rec, "pasta_pid", json_integer(st->pasta_pid));
        json_set(rec, "pasta_start", json_integer(st->pasta_start));
    }
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, STATE_FILE);
    return record_save_flags(path, rec, PYRO_WRITE_NOSYNC, err);
}

int vm_state_load(const char *dir, struct vm_state *st, pyro_error *err)
{
    *st = (struct vm_state){0};
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, STATE_FILE);
    json_auto_t *rec = NULL;
    int r = record_load_existing(path, &rec, err);
    if (r < 0)
        return r;
    const char *id = json_get_str(rec, "id", NULL);
    const char *disk = json_get_str(rec, "disk", NULL);
    /* (a vm.json of an older pyro has no cgroup: "pyro" is then harmless) */
    const char *parent = json_get_str(rec, "cgroup_parent", "pyro");
    if (!id || !disk || disk[0] != '/' || relpath_check(parent, RELPATH_CANONICAL, NULL) < 0)
        return err_set(err, -PYRO_E_CORRUPT, "%s: missing or bad id, disk or cgroup_parent", path);
    st->id = xstrdup(id);
    st->disk = xstrdup(disk);
    st->qemu_pid = (pid_t)json_get_int(rec, "qemu_pid", 0);
    st->qemu_start = json_get_int(rec, "qemu_start_time", -1);
    st->disk_owned = json_get_bool(rec, "disk_owned", false);
    st->cgroup_parent = xstrdup(parent);
    st->network = json_get_bool(rec, "network", false);
    st->rootless = json_get_bool(rec, "rootless", false);
    const char *cg = json_get_str(rec, "cgroup", NULL);
    st->cgroup = cg && st->rootless ? xstrdup(cg) : NULL;
    long long pp = json_get_int(rec, "pasta_pid", 0);
    st->pasta_pid = pp > 0 && pp < INT32_MAX ? (pid_t)pp : 0;
    st->pasta_start = json_get_int(rec, "pasta_start", 0);
    return 0;
}

void vm_state_free(struct vm_state *st)
{
    free(st->id);
    free(st->disk);
    free(st->cgroup_parent);
    free(st->cgroup);
    *st = (struct vm_state){0};
}
