/* One exec path for VMs and workspaces: the typed request to the agent
 * through the instance's monitor, the typed (checked) result back. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/shell.h"
#include "base/timeutil.h"
#include "lib/env/env.h"
#include "lib/vm/instance_call.h"
#include "lib/vm/vm.h"
#include "proto/exec.h"

/* Extra time the host waits beyond the command's own timeout: the agent
 * kills the command at its deadline and must still report. */
#define VM_EXEC_SLACK_MS 15000

/* Whether rootfs has a /bin/sh, its symlinks resolved inside it. */
static bool rootfs_has_shell(const char *rootfs)
{
    _cleanup_close_ int dfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return true; /* let the agent say what is wrong */
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, dfd, "bin/sh", &how, sizeof(how));
    if (fd < 0)
        return errno != ENOENT && errno != ENOTDIR;
    close((int)fd);
    return true;
}

int instance_exec(struct instance *inst, const char *command, const char *cwd, int timeout_seconds,
                  struct proto_exec_result *out, pyro_error *err)
{
    return instance_exec_env(inst, command, cwd, timeout_seconds, NULL, 0, out, err);
}

int instance_exec_env(struct instance *inst, const char *command, const char *cwd, int timeout_seconds,
                      const struct proto_exec_env *env, size_t env_count, struct proto_exec_result *out,
                      pyro_error *err)
{
    /* An image without /bin/sh (docs/environments.md) runs a plain argv. */
    char **argv = NULL;
    const char *rootfs = json_get_str(inst->rec, "rootfs", NULL);
    if (rootfs && !rootfs_has_shell(rootfs)) {
        argv = shell_split_words(command);
        if (!argv)
            return err_set(err, -PYRO_E_UNSUPPORTED,
                           "this environment has no /bin/sh: give the command as plain words (a program and its "
                           "arguments, quotes allowed; no pipes, redirections or expansions)");
    }
    /* A pulled image's Env comes first; the caller's entries override it. */
    struct env_image_defaults img = {0};
    if (rootfs)
        env_image_defaults(rootfs, &img);
    json_auto_t *img_env = img.env;
    size_t n = json_object_size(img_env);
    _cleanup_free_ struct proto_exec_env *all = xcalloc(n + env_count + 1, sizeof(*all));
    const char *k;
    json_t *v;
    n = 0;
    json_object_foreach(img_env, k, v)
        all[n++] = (struct proto_exec_env){k, json_string_value(v)};
    for (size_t i = 0; i < env_count; i++)
        all[n++] = env[i];
    const struct proto_exec_request req = {
        .command = argv ? NULL : command,
        .argv = (const char *const *)argv,
        .cwd = cwd              ? cwd
               : img.workdir[0] ? img.workdir
                                : "/",
        .env = all,
        .env_count = n,
        .timeout_ms = (int64_t)timeout_seconds * 1000,
        .stdout_max = PROTO_EXEC_CAPTURE_MAX,
        .stderr_max = PROTO_EXEC_CAPTURE_MAX,
    };
    json_auto_t *args = proto_exec_request_pack(&req);
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
    json_auto_t *res = NULL;
    memset(out, 0, sizeof(*out));
    int r = instance_call(inst, "exec", args, timeout_seconds * 1000 + VM_EXEC_SLACK_MS, &res, err);
    if (r < 0) {
        /* Say why the sandbox went away when its monitor knows. */
        instance_reload_monitor(inst);
        const char *state = instance_state(inst);
        if (!strcmp(state, "expired"))
            return err_set(err, -PYRO_E_TIMEOUT,
                           "%s expired (ttl_seconds=%lld) while the command ran; the sandbox was stopped", inst->id,
                           json_get_int(inst->rec, "ttl_seconds", 0));
        if (strcmp(state, "running") != 0)
            return err_prefix(err, "%s is %s", inst->id, state);
        return r;
    }
    /* The client checked the reply's shape; this also holds the texts to
     * the limits asked for. */
    r = proto_exec_result_unpack(res, &req, out, err);
    return r < 0 ? err_prefix(err, "agent: malformed reply to exec") : 0;
}

int vm_exec_command(struct pyro_ctx *ctx, struct instance *inst, const char *command, int timeout_seconds,
                    json_t **result, pyro_error *err)
{
    char started[PYRO_TIME_ISO_LEN];
    time_iso(started, time_wall_ms());
    struct proto_exec_result res;
    /* The command runs without the VM's lock: status, list, stop and
     * delete go ahead meanwhile (instance_unlock). */
    instance_unlock(inst);
    int r = instance_exec(inst, command, NULL, timeout_seconds, &res, err); /* the image's WorkingDir or / */
    int lr = instance_relock(inst, "the command ran", err);
    if (lr < 0) {
        if (r == 0)
            proto_exec_result_clear(&res);
        return lr;
    }
    if (r < 0)
        return r;
    json_t *out = json_object();
    json_set(out, "vm_id", json_string(inst->id));
    json_set(out, "environment", json_string(json_get_str(inst->rec, "environment", "")));
    json_set(out, "command", json_string(command));
    proto_exec_result_pack(&res, true, out);
    proto_exec_result_clear(&res);
    json_set(out, "started_at", json_string(started));
    instance_isolation(inst, out);
    *result = out;
    return 0;
}
