/* Which backend an instance runs on, and what its monitor needs for it.
 *
 * The choice is made once, at create: the `backend` argument, else
 * $PYRO_BACKEND, else auto; auto is vm where KVM runs a guest natively
 * (lib/host/accel.c: the doctor's probe) and sandbox otherwise. The record
 * keeps the resolved name ("backend") across stop and start; a record
 * without one is a sandbox (made before the vm backend existed). */
#include "lib/vm/instance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "lib/contract/params.h"
#include "lib/host/accel.h"

static bool backend_known(const char *name)
{
    for (size_t i = 0; contract_backend_choices[i]; i++)
        if (!strcmp(contract_backend_choices[i], name))
            return true;
    return false;
}

int instance_backend_choose(const json_t *args, json_t *rec, pyro_error *err)
{
    const char *want = json_get_str(args, "backend", NULL);
    const char *from = "the backend argument";
    if (!want || !want[0]) {
        want = getenv(PYRO_BACKEND_ENV);
        from = PYRO_BACKEND_ENV;
    }
    if (!want || !want[0]) {
        want = "auto";
        from = "the default";
    }
    if (!backend_known(want))
        return err_set(err, -PYRO_E_INVALID, "%s must be auto, sandbox or vm, got '%.32s'",
                       strcmp(from, PYRO_BACKEND_ENV) ? "backend" : PYRO_BACKEND_ENV, want);
    const char *name = want;
    char reason[400];
    snprintf(reason, sizeof(reason), "%s chose %s", from, want);
    if (!strcmp(want, "auto")) {
        struct accel_choice ac;
        pyro_error aerr = {0};
        /* A broken $PYRO_VM_ACCEL makes auto pick the sandbox, saying why. */
        if (accel_choose(&ac, &aerr) < 0) {
            name = "sandbox";
            snprintf(reason, sizeof(reason), "auto: sandbox (%s)", aerr.message);
        } else {
            name = !strcmp(ac.name, "kvm") ? "vm" : "sandbox";
            snprintf(reason, sizeof(reason), "auto: %s (%s)", name, ac.reason);
        }
    }
    json_set(rec, "backend", json_string(name));
    json_set(rec, "backend_reason", json_string(reason));
    return 0;
}

const char *instance_backend_name(const struct instance *inst)
{
    return json_get_str(inst->rec, "backend", "sandbox");
}

static void disk_quota(const struct instance *inst, json_t *out)
{
    /* What holds the writable layer (backend.h, disk_mib): a VM always has
     * its image; a sandbox has one when disk_mib was given, unless its
     * start could not loop-mount it (an ordinary user). */
    bool vm = !strcmp(json_get_str(inst->mon, "execution_mode", instance_backend_name(inst)), "vm");
    long long mib = json_get_int(inst->rec, "disk_mib", vm ? BACKEND_VM_DISK_MIB : 0);
    bool unenforced = false;
    json_t *lu = json_object_get(inst->mon, "limits_unenforced"), *v;
    size_t i;
    json_array_foreach(lu, i, v)
        unenforced |= json_is_string(v) && !strcmp(json_string_value(v), "disk");
    if (mib > 0)
        json_set(out, "disk_mib", json_integer(mib));
    json_set(out, "disk_quota", json_string(mib <= 0 ? "none" : unenforced ? "unenforced" : "enforced"));
}

int instance_vm_prepare(struct pyro_ctx *ctx, const struct instance *inst, const char *agent, struct instance_vm *out,
                        pyro_error *err)
{
    memset(out, 0, sizeof(*out));
    int r = env_vm_ensure(ctx, json_get_str(inst->rec, "environment", ""), agent, &out->artifacts, err);
    if (r < 0)
        return r;
    struct accel_choice ac;
    if ((r = accel_choose(&ac, err)) < 0)
        return r;
    snprintf(out->accel, sizeof(out->accel), "%s", ac.name);
    snprintf(out->accel_reason, sizeof(out->accel_reason), "%s", ac.reason);
    return 0;
}

void instance_isolation(const struct instance *inst, json_t *out)
{
    json_set(out, "execution_mode",
             json_string(json_get_str(inst->mon, "execution_mode", instance_backend_name(inst))));
    const char *accel = json_get_str(inst->mon, "accelerator", NULL);
    if (accel)
        json_set(out, "accelerator", json_string(accel));
    const char *boot = json_get_str(inst->mon, "vm_boot", NULL);
    if (boot) {
        json_set(out, "vm_boot", json_string(boot));
        json_set(out, "vm_boot_reason", json_string(json_get_str(inst->mon, "vm_boot_reason", "")));
    }
    json_t *rl = json_object_get(inst->mon, "rootless");
    if (json_is_boolean(rl))
        json_set(out, "rootless", json_incref(rl));
    json_t *lu = json_object_get(inst->mon, "limits_unenforced");
    if (json_is_array(lu))
        json_set(out, "limits_unenforced", json_incref(lu));
    const char *why = json_get_str(inst->mon, "limits_unenforced_reason", NULL);
    if (why)
        json_set(out, "limits_unenforced_reason", json_string(why));
    disk_quota(inst, out);
}
