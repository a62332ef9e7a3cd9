/* An open instance's lock released while the agent works, and taken again
 * to record the outcome (docs/workspaces.md "Concurrency"): what happened
 * meanwhile (deleted, stopped, restarted, expired) is found out from the
 * record and the monitor's identity. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/lock.h"
#include "base/record.h"
#include "lib/vm/instance.h"

/* "VM" or "workspace", from <state>/<kind>/<id>. */
static const char *instance_noun(const struct instance *inst)
{
    size_t n = strlen(inst->dir), k = strlen(inst->id);
    return n >= k + 5 && !strncmp(inst->dir + n - k - 5, "/vms/", 5) ? "VM" : "workspace";
}

void instance_unlock(struct instance *inst)
{
    inst->unlocked_pid = json_get_int(inst->mon, "pid", 0);
    inst->unlocked_start = json_get_int(inst->mon, "start_time", -1);
    if (inst->lock_fd >= 0)
        close(inst->lock_fd);
    inst->lock_fd = -1;
}

bool instance_locked(const struct instance *inst)
{
    return inst->dir && inst->lock_fd >= 0;
}

int instance_relock(struct instance *inst, const char *during, pyro_error *err)
{
    const char *noun = instance_noun(inst);
    pyro_error lerr = {0};
    int lfd = inst->lock_fd >= 0 ? inst->lock_fd
                                 : dirlock(inst->dir, PYRO_LOCK_EXCLUSIVE, INSTANCE_LOCK_TIMEOUT_MS, &lerr);
    if (lfd < 0) {
        if (lerr.code == -ENOENT) /* the directory is gone */
            return err_set(err, -PYRO_E_NOT_FOUND, "%s %s was deleted while %s", noun, inst->id, during);
        if (err)
            *err = lerr;
        return lfd;
    }
    inst->lock_fd = lfd;
    /* A delete removes the record first (instance_destroy): without one the
     * instance is gone, even if a half-removed directory is still there. */
    json_t *rec = NULL;
    _cleanup_free_ char *rp = xasprintf("%s/record.json", inst->dir);
    int r = record_load(rp, &rec, &lerr);
    if (r < 0) {
        close(inst->lock_fd);
        inst->lock_fd = -1;
        if (r == -ENOENT)
            return err_set(err, -PYRO_E_NOT_FOUND, "%s %s was deleted while %s", noun, inst->id, during);
        if (err)
            *err = lerr;
        return r;
    }
    json_decref(inst->rec);
    inst->rec = rec;
    instance_reload_monitor(inst);
    bool alive = instance_monitor_alive(inst);
    if (alive && json_get_int(inst->mon, "pid", 0) == inst->unlocked_pid &&
        json_get_int(inst->mon, "start_time", -1) == inst->unlocked_start)
        return 0;
    if (alive)
        return err_set(err, -PYRO_E_STATE, "%s %s was restarted (stopped and started, or reset) while %s", noun,
                       inst->id, during);
    const char *state = instance_state(inst);
    if (!strcmp(state, "expired"))
        return err_set(err, -PYRO_E_TIMEOUT, "%s %s expired (ttl_seconds=%lld) while %s; the sandbox was stopped", noun,
                       inst->id, json_get_int(inst->rec, "ttl_seconds", 0), during);
    if (!strcmp(state, "stopped"))
        return err_set(err, -PYRO_E_STATE, "%s %s was stopped while %s", noun, inst->id, during);
    return err_set(err, -PYRO_E_STATE, "%s %s ended (it is %s now) while %s", noun, inst->id, state, during);
}
