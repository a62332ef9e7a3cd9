#include "lib/vm/instance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/monitor.h"
#include "base/cleanup.h"
#include "base/id.h"
#include "base/idmap.h"
#include "base/json.h"
#include "base/lock.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/proc.h"
#include "base/record.h"
#include "base/timeutil.h"
#include "lib/contract/params.h"
#include "lib/host/agent_path.h"
#include "lib/vm/instance_call.h"

#define INSTANCE_START_TIMEOUT_MS 120000
static const char *const instance_kinds[] = {"vms", "workspaces"};

int instance_base_dir(struct pyro_ctx *ctx, const char *kind, char **out, pyro_error *err)
{
    char *dir = xasprintf("%s/%s", ctx->state_dir, kind);
    int r = mkdir_p(dir, 0700, err);
    if (r < 0) {
        free(dir);
        return r;
    }
    *out = dir;
    return 0;
}

static void instance_load_monitor(struct instance *inst)
{
    json_decref(inst->mon);
    inst->mon = NULL;
    _cleanup_free_ char *p = xasprintf("%s/monitor.json", inst->dir);
    pyro_error err = {0};
    if (record_load(p, &inst->mon, &err) < 0 && err.code != -ENOENT)
        log_debug("instance %s: %s", inst->id, err.message);
}

void instance_reload_monitor(struct instance *inst)
{
    instance_load_monitor(inst);
}

int instance_create(struct pyro_ctx *ctx, const char *kind, json_t *rec, struct instance *out, pyro_error *err)
{
    _cleanup_free_ char *base = NULL;
    int r = instance_base_dir(ctx, kind, &base, err);
    if (r < 0)
        return r;
    char id[PYRO_ID_LEN + 1];
    _cleanup_free_ char *dir = NULL;
    for (int tries = 0;; tries++) {
        id_random(id, sizeof(id));
        free(dir);
        dir = xasprintf("%s/%s", base, id);
        if (mkdir(dir, 0700) == 0)
            break;
        if (errno != EEXIST || tries > 8)
            return err_errno(err, errno, "create %s", dir);
    }
    int lfd = dirlock(dir, PYRO_LOCK_EXCLUSIVE, 0, err);
    if (lfd < 0) {
        idmap_rm_rf(dir, NULL);
        return lfd;
    }
    *out = (struct instance){.dir = TAKE_PTR(dir), .id = xstrdup(id), .rec = json_incref(rec), .lock_fd = lfd};
    r = instance_save(out, err);
    if (r < 0) {
        idmap_rm_rf(out->dir, NULL);
        instance_close(out);
        return r;
    }
    if (ctx->instance_created)
        ctx->instance_created(ctx->instance_created_data, kind, out->id);
    return 0;
}

int instance_open(struct pyro_ctx *ctx, const char *kind, const char *id, struct instance *out, pyro_error *err)
{
    return instance_open_wait(ctx, kind, id, INSTANCE_LOCK_TIMEOUT_MS, out, err);
}

int instance_open_wait(struct pyro_ctx *ctx, const char *kind, const char *id, int timeout_ms, struct instance *out,
                       pyro_error *err)
{
    if (!id_valid(id))
        return err_set(err, -PYRO_E_INVALID, "'%s' is not a valid id", id);
    _cleanup_free_ char *dir = xasprintf("%s/%s/%s", ctx->state_dir, kind, id);
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return err_set(err, -PYRO_E_NOT_FOUND, "no %s with id '%s'", strcmp(kind, "vms") ? "workspace" : "VM", id);
    int lfd = dirlock(dir, PYRO_LOCK_EXCLUSIVE, timeout_ms, err);
    if (lfd < 0)
        return lfd;
    json_t *rec = NULL;
    _cleanup_free_ char *rp = xasprintf("%s/record.json", dir);
    int r = record_load(rp, &rec, err);
    if (r < 0) {
        close(lfd);
        /* Deleted between our stat and our lock, or never finished. */
        if (r == -ENOENT)
            return err_set(err, -PYRO_E_NOT_FOUND, "no %s with id '%s'", strcmp(kind, "vms") ? "workspace" : "VM", id);
        return r;
    }
    *out = (struct instance){.dir = TAKE_PTR(dir), .id = xstrdup(id), .rec = rec, .lock_fd = lfd};
    instance_load_monitor(out);
    return 0;
}

void instance_close(struct instance *inst)
{
    /* Every open instance has its directory; without one nothing is held
     * (not even lock_fd, which a zeroed struct leaves at 0). */
    if (!inst->dir)
        return;
    if (inst->lock_fd >= 0)
        close(inst->lock_fd);
    inst->lock_fd = -1;
    json_decref(inst->rec);
    json_decref(inst->mon);
    free(inst->dir);
    free(inst->id);
    inst->rec = inst->mon = NULL;
    inst->dir = inst->id = NULL;
}

int instance_save(struct instance *inst, pyro_error *err)
{
    _cleanup_free_ char *p = xasprintf("%s/record.json", inst->dir);
    /* The record of a one-shot run lives for the run only: replaced
     * atomically, but not fsynced (a reboot ends the run anyway). */
    unsigned flags = json_get_bool(inst->rec, "ephemeral", false) ? PYRO_WRITE_NOSYNC : 0;
    return record_save_flags(p, inst->rec, flags, err);
}

/* The monitor process exists (it may be finishing after recording its exit). */
static bool instance_monitor_process(const struct instance *inst)
{
    if (!inst->mon)
        return false;
    pid_t pid = (pid_t)json_get_int(inst->mon, "pid", 0);
    int64_t st = json_get_int(inst->mon, "start_time", -1);
    return proc_alive(pid, st);
}

bool instance_monitor_alive(const struct instance *inst)
{
    return instance_monitor_process(inst) && strcmp(json_get_str(inst->mon, "state", ""), "exited") != 0;
}

bool instance_expired(const struct instance *inst, int64_t now_ms)
{
    int64_t exp = time_parse_iso(json_get_str(inst->rec, "expires_at", ""));
    return exp > 0 && now_ms >= exp;
}

const char *instance_state(const struct instance *inst)
{
    const char *want = json_get_str(inst->rec, "state", "created");
    if (strcmp(want, "started") != 0)
        return want; /* created, stopped */
    if (instance_monitor_alive(inst))
        return "running";
    const char *reason = json_get_str(inst->mon, "reason", "");
    if (!strcmp(reason, "expired"))
        return "expired";
    if (!strcmp(reason, "sandbox_exited") || !strcmp(reason, "stopped") || !strcmp(reason, "signal"))
        return "exited";
    return "failed";
}

void instance_own(json_t *rec)
{
    pid_t self = getpid();
    json_set(rec, "owner", json_pack("{s:i, s:I}", "pid", (int)self, "start_time", (json_int_t)proc_start_time(self)));
}

const char *instance_abandoned(const struct instance *inst)
{
    const char *state = json_get_str(inst->rec, "state", "");
    const char *why = !strcmp(state, "creating")                     ? "create_interrupted"
                      : !strcmp(state, "deleting")                   ? "delete_interrupted"
                      : json_get_bool(inst->rec, "ephemeral", false) ? "run_interrupted"
                                                                     : NULL;
    json_t *owner = json_object_get(inst->rec, "owner");
    /* A run's record without an owner is left to its TTL; a create or
     * delete without one was given up by a process that failed. */
    if (!why || (!owner && !strcmp(why, "run_interrupted")))
        return NULL;
    if (owner && proc_alive((pid_t)json_get_int(owner, "pid", 0), json_get_int(owner, "start_time", -1)))
        return NULL;
    return why;
}

int instance_count_running(struct pyro_ctx *ctx, struct instance_usage *out, pyro_error *err)
{
    (void)err;
    struct instance_usage u = {0};
    for (size_t k = 0; k < ARRAY_SIZE(instance_kinds); k++) {
        _cleanup_free_ char *base = xasprintf("%s/%s", ctx->state_dir, instance_kinds[k]);
        _cleanup_closedir_ DIR *d = opendir(base);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (!id_valid(de->d_name))
                continue;
            /* Read without the lock: an instance being changed is counted by
             * what its files say now (both are replaced atomically). */
            _cleanup_free_ char *mp = xasprintf("%s/%s/monitor.json", base, de->d_name);
            _cleanup_free_ char *rp = xasprintf("%s/%s/record.json", base, de->d_name);
            json_auto_t *mon = NULL, *rec = NULL;
            if (record_load(mp, &mon, NULL) < 0)
                continue;
            struct instance tmp = {.mon = mon};
            if (!instance_monitor_alive(&tmp))
                continue;
            /* Its sandbox runs: it counts even when its record is unreadable,
             * with the default sizes (the parent cgroup's limit still holds
             * the sum in the kernel). */
            tmp.rec = record_load(rp, &rec, NULL) == 0 ? rec : NULL;
            u.running++;
            u.mem_mib += json_get_int(tmp.rec, "mem_mib", PYRO_DEFAULT_MEM_MIB);
            u.vcpus += json_get_int(tmp.rec, "vcpu_count", PYRO_DEFAULT_VCPU_COUNT);
            if (tmp.rec && instance_abandoned(&tmp))
                u.abandoned++;
        }
    }
    if (out)
        *out = u;
    return u.running;
}

int instance_check_size(struct pyro_ctx *ctx, int64_t vcpu_count, int64_t mem_mib, pyro_error *err)
{
    if (mem_mib > ctx->max_total_mem_mib)
        return err_set(err, -PYRO_E_LIMIT,
                       "mem_mib %lld is more than all sandboxes together may take on this host: the cap "
                       "max_total_mem_mib is %lld MiB (%s)",
                       (long long)mem_mib, (long long)ctx->max_total_mem_mib,
                       ctx->max_total_mem_from_env ? "set by PYRO_MAX_TOTAL_MEM_MIB"
                                                   : "75% of MemTotal; PYRO_MAX_TOTAL_MEM_MIB overrides it");
    if (vcpu_count > ctx->max_total_vcpus)
        return err_set(err, -PYRO_E_LIMIT,
                       "vcpu_count %lld is more than all sandboxes together may take on this host: the cap "
                       "max_total_vcpus is %d (%s)",
                       (long long)vcpu_count, ctx->max_total_vcpus,
                       ctx->max_total_vcpus_from_env ? "set by PYRO_MAX_TOTAL_VCPUS"
                                                     : "4 x the online CPUs; PYRO_MAX_TOTAL_VCPUS overrides it");
    return 0;
}

/* The count and the host-wide caps, for one more start (under the lock of
 * the state dir). */
static int instance_check_room(struct pyro_ctx *ctx, const struct instance *inst, int64_t vcpus, int64_t mem,
                               pyro_error *err)
{
    struct instance_usage u;
    instance_count_running(ctx, &u, err);
    char left[160] = "";
    if (u.abandoned)
        snprintf(left, sizeof(left),
                 " (%d of them left by a killed create, delete or run: 'pyro vm reap-expired' "
                 "removes them)",
                 u.abandoned);
    if (u.running >= ctx->max_active_vms)
        return err_set(err, -PYRO_E_LIMIT,
                       "%d sandboxes are already running%s, the limit max_active_vms is %d: stop or delete one, "
                       "or raise it with PYRO_MAX_ACTIVE_VMS",
                       u.running, left, ctx->max_active_vms);
    if (u.mem_mib + mem > ctx->max_total_mem_mib)
        return err_set(err, -PYRO_E_LIMIT,
                       "starting %s (mem_mib %lld) would bring the memory of running sandboxes to %lld MiB, above "
                       "the cap max_total_mem_mib of %lld MiB; %d running take %lld MiB%s: stop or delete one, or "
                       "raise the cap with PYRO_MAX_TOTAL_MEM_MIB",
                       inst->id, (long long)mem, (long long)(u.mem_mib + mem), (long long)ctx->max_total_mem_mib,
                       u.running, (long long)u.mem_mib, left);
    if (u.vcpus + vcpus > ctx->max_total_vcpus)
        return err_set(err, -PYRO_E_LIMIT,
                       "starting %s (vcpu_count %lld) would bring the vCPUs of running sandboxes to %lld, above the "
                       "cap max_total_vcpus of %d; %d running take %lld%s: stop or delete one, or raise the cap "
                       "with PYRO_MAX_TOTAL_VCPUS",
                       inst->id, (long long)vcpus, (long long)(u.vcpus + vcpus), ctx->max_total_vcpus, u.running,
                       (long long)u.vcpus, left);
    return 0;
}

int instance_agent_path(char **out, pyro_error *err)
{
    return host_agent_path(out, err);
}

int instance_backend_destroy(const char *dir, const char *id, pyro_error *err)
{
    /* Works without a record: the vm backend leaves its vm.json before it
     * creates anything, everything else is the sandbox's. */
    _cleanup_free_ char *bdir = xasprintf("%s/sandbox", dir);
    _cleanup_free_ char *vmstate = xasprintf("%s/vm.json", bdir);
    const struct backend_ops *ops;
    int r = backend_get(access(vmstate, F_OK) == 0 ? "vm" : "sandbox", &ops, err);
    if (r < 0)
        return r;
    return ops->destroy(bdir, id, err);
}

/* A VM that could not start: with allow_host_compat the caller may retry
 * on the sandbox backend, else the error says so. */
static int instance_vm_failed(const struct instance *inst, bool *fallback, pyro_error *err)
{
    if (json_get_bool(inst->rec, "allow_host_compat", false))
        *fallback = true;
    else
        err_prefix(err, "the VM of %s could not start (allow_host_compat would permit the sandbox backend instead)",
                   inst->id);
    return err->code;
}

/* One start on the record's backend; *fallback says a VM that failed to
 * start may be retried on the sandbox backend (allow_host_compat). */
static int instance_start_once(struct pyro_ctx *ctx, struct instance *inst, bool *fallback, pyro_error *err)
{
    if (instance_monitor_alive(inst))
        return err_set(err, -PYRO_E_STATE, "%s is already running", inst->id);
    if (!strcmp(json_get_str(inst->rec, "state", ""), "deleting"))
        return err_set(err, -PYRO_E_STATE, "%s is being deleted (a delete stopped midway): delete it again", inst->id);
    int vcpus = (int)json_get_int(inst->rec, "vcpu_count", PYRO_DEFAULT_VCPU_COUNT);
    int mem = (int)json_get_int(inst->rec, "mem_mib", PYRO_DEFAULT_MEM_MIB);
    /* Count and start under one lock so two starters cannot both take the
     * last slot, or the last memory and vCPUs of the caps. */
    _cleanup_free_ char *base = NULL;
    int r = instance_base_dir(ctx, "vms", &base, err);
    if (r < 0)
        return r;
    _cleanup_close_ int glock = dirlock(ctx->state_dir, PYRO_LOCK_EXCLUSIVE, INSTANCE_LOCK_TIMEOUT_MS, err);
    if (glock < 0)
        return glock;
    r = instance_check_room(ctx, inst, vcpus, mem, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *agent = NULL;
    r = instance_agent_path(&agent, err);
    if (r < 0)
        return r;
    /* A previous run's backend state (after a crash) is cleared first; an
     * instance that never started has none (its monitor.json is written
     * before the backend creates anything). */
    _cleanup_free_ char *bdir = xasprintf("%s/sandbox", inst->dir);
    _cleanup_free_ char *mon = xasprintf("%s/monitor.json", inst->dir);
    if (access(mon, F_OK) == 0 || access(bdir, F_OK) == 0) {
        r = instance_backend_destroy(inst->dir, inst->id, err);
        if (r < 0)
            return r;
    }
    int64_t expires = time_parse_iso(json_get_str(inst->rec, "expires_at", ""));
    if (expires <= time_wall_ms())
        return err_set(err, -PYRO_E_STATE, "%s has expired (ttl_seconds passed); create a new one", inst->id);
    /* A persistent instance (a workspace) keeps its writable layer in
     * <dir>/upper across stop and start; the backend never removes it. */
    _cleanup_free_ char *upper = json_get_bool(inst->rec, "persistent_upper", false) ? xasprintf("%s/upper", inst->dir)
                                                                                     : NULL;
    struct idmap idmap;
    if ((r = idmap_resolve(&idmap, err)) < 0)
        return r;
    const char *backend = instance_backend_name(inst);
    struct instance_vm vm;
    if (!strcmp(backend, "vm")) {
        r = instance_vm_prepare(ctx, inst, agent, &vm, err);
        if (r < 0)
            return instance_vm_failed(inst, fallback, err);
    }
    bool is_vm = !strcmp(backend, "vm");
    /* The egress allow-list, borrowed from the record until the monitor runs. */
    json_t *allow = json_object_get(inst->rec, "allow_hosts");
    _cleanup_free_ const char **allow_v = allow ? xcalloc(json_array_size(allow) + 1, sizeof(char *)) : NULL;
    for (size_t i = 0; allow && i < json_array_size(allow); i++)
        allow_v[i] = json_string_value(json_array_get(allow, i));
    struct monitor_config mc = {
        .idmap = &idmap,
        .backend = backend,
        .upper_dir = upper,
        .dir = inst->dir,
        .id = inst->id,
        .rootfs = json_get_str(inst->rec, "rootfs", ""),
        .agent_path = agent,
        .vcpu_count = vcpus,
        .mem_mib = mem,
        /* 0 in records older than disk quotas: their layer stays as it was
         * (a plain directory; a VM's 8192 MiB disk). */
        .disk_mib = (int)json_get_int(inst->rec, "disk_mib", 0),
        .pids_max = PYRO_DEFAULT_PIDS_MAX,
        .cgroup_parent_mem_mib = ctx->max_total_mem_mib,
        .network = json_get_bool(inst->rec, "network", false),
        .network_allow_host = ctx->egress_allow_host,
        .network_allow_hosts = (char *const *)allow_v,
        .expires_at_ms = expires,
        .vm_kernel = is_vm ? vm.artifacts.kernel : NULL,
        .vm_initrd = is_vm ? vm.artifacts.initrd : NULL,
        .vm_root_image = is_vm ? vm.artifacts.root_image : NULL,
        .vm_accel = is_vm ? vm.accel : NULL,
        .vm_template_dir = is_vm && ctx->vm_templates ? vm.artifacts.templates : NULL,
    };
    int pid = 0;
    int64_t t0 = time_mono_ns();
    r = monitor_spawn(&mc, INSTANCE_START_TIMEOUT_MS, &pid, err);
    log_debug("instance %s: monitor spawned and %s ready in %.1f ms", inst->id, backend, (time_mono_ns() - t0) / 1e6);
    instance_load_monitor(inst);
    if (r < 0 && is_vm)
        return instance_vm_failed(inst, fallback, err);
    if (r < 0)
        return r;
    /* A create under way stays "creating" until its creator is done. */
    if (strcmp(json_get_str(inst->rec, "state", ""), "creating") != 0)
        json_set(inst->rec, "state", json_string("started"));
    return instance_save(inst, err);
}

int instance_start(struct pyro_ctx *ctx, struct instance *inst, pyro_error *err)
{
    bool fallback = false;
    int r = instance_start_once(ctx, inst, &fallback, err);
    if (r == 0 || !fallback)
        return r;
    /* allow_host_compat: the sandbox backend instead, for good (the record
     * keeps it across stop and start), and the result says why. */
    log_debug("instance %s: VM start failed (%s); falling back to the sandbox backend", inst->id, err->message);
    json_set(inst->rec, "backend", json_string("sandbox"));
    json_set(inst->rec, "backend_fallback", json_string(err->message));
    pyro_error e2 = {0};
    if ((r = instance_backend_destroy(inst->dir, inst->id, &e2)) < 0 || (r = instance_save(inst, &e2)) < 0) {
        *err = e2;
        return r;
    }
    *err = (pyro_error){0};
    return instance_start_once(ctx, inst, &fallback, err);
}

/* Waits up to timeout_ms for the monitor process to end (it is not our
 * child: a pidfd tells when it exits). */
static void instance_wait_monitor(const struct instance *inst, int timeout_ms)
{
    pid_t pid = (pid_t)json_get_int(inst->mon, "pid", 0);
    _cleanup_close_ int pfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    /* Opened after checking identity: a reused pid is not waited for. */
    if (pfd < 0 || !instance_monitor_process(inst))
        return;
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR)
        ;
}

/* Kills a monitor that no longer answers, then its sandbox through the
 * backend. */
static int instance_kill_monitor(struct instance *inst, pyro_error *err)
{
    if (instance_monitor_process(inst)) {
        pid_t pid = (pid_t)json_get_int(inst->mon, "pid", 0);
        kill(pid, SIGKILL);
        instance_wait_monitor(inst, 2000);
    }
    return instance_backend_destroy(inst->dir, inst->id, err);
}

int instance_stop(struct instance *inst, pyro_error *err)
{
    if (instance_monitor_alive(inst)) {
        /* The monitor answers once the sandbox is gone and cleaned up. */
        json_t *res = NULL;
        pyro_error cerr = {0};
        json_auto_t *args = json_object();
        if (instance_call(inst, "monitor_stop", args, MONITOR_STOP_GRACE_MS + 30000, &res, &cerr) == 0)
            json_decref(res);
        else
            log_debug("instance %s: stop: %s", inst->id, cerr.message);
        instance_wait_monitor(inst, 5000);
        instance_load_monitor(inst);
    }
    /* Whatever happened above, nothing may be left running or mounted. */
    int r = instance_kill_monitor(inst, err);
    if (r < 0)
        return r;
    instance_load_monitor(inst);
    if (!strcmp(json_get_str(inst->rec, "state", ""), "started")) {
        json_set(inst->rec, "state", json_string("stopped"));
        char ts[PYRO_TIME_ISO_LEN];
        time_iso(ts, time_wall_ms());
        json_set(inst->rec, "stopped_at", json_string(ts));
        return instance_save(inst, err);
    }
    return 0;
}

/* Removes every entry of the instance's directory but its record and lock
 * (rm_rf_at: iterative, so no depth of tree runs it out of descriptors). */
static int instance_remove_data(struct instance *inst, pyro_error *err)
{
    _cleanup_closedir_ DIR *d = opendir(inst->dir);
    if (!d)
        return errno == ENOENT ? 0 : err_errno(err, errno, "open %s", inst->dir);
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "record.json") || !strcmp(n, ".lock"))
            continue;
        int r = idmap_rm_rf_at(dirfd(d), n, err);
        if (r < 0)
            return err_prefix(err, "remove %s", inst->dir);
    }
    if (errno)
        return err_errno(err, errno, "read %s", inst->dir);
    return 0;
}

int instance_destroy(struct instance *inst, pyro_error *err)
{
    /* Marked first and the record removed last: until it is gone, a
     * half-deleted instance is listed as "deleting", and a second delete or
     * reap finishes the job. */
    json_set(inst->rec, "state", json_string("deleting"));
    instance_own(inst->rec);
    int r = instance_save(inst, err);
    if (r < 0)
        return r;
    /* instance_stop leaves no process, mount, cgroup or network rule. */
    r = instance_stop(inst, err);
    if (r == 0)
        r = instance_remove_data(inst, err);
    if (r < 0) {
        /* Given up: no owner, so reap takes it even while we live. */
        json_object_del(inst->rec, "owner");
        pyro_error serr = {0};
        (void)instance_save(inst, &serr);
        return r;
    }
    _cleanup_free_ char *rp = xasprintf("%s/record.json", inst->dir);
    if (unlink(rp) < 0 && errno != ENOENT)
        return err_errno(err, errno, "remove %s", rp);
    /* Only the lock is left (a directory without a record is removed by
     * reap as the remains of a killed delete). */
    return idmap_rm_rf(inst->dir, err);
}

json_t *instance_describe(const struct instance *inst, const char *id_key)
{
    json_t *o = json_object();
    json_set(o, id_key, json_string(inst->id));
    const char *copy[] = {"environment", "environment_version", "vcpu_count", "mem_mib",    "ttl_seconds",
                          "network",     "allow_host_compat",   "created_at", "expires_at", "stopped_at"};
    for (size_t i = 0; i < ARRAY_SIZE(copy); i++) {
        json_t *v = json_object_get(inst->rec, copy[i]);
        if (v)
            json_set(o, copy[i], json_copy(v));
    }
    json_set(o, "state", json_string(instance_state(inst)));
    instance_isolation(inst, o);
    json_t *b = json_object_get(inst->rec, "backend_fallback");
    if (b)
        json_set(o, "backend_fallback", json_copy(b));
    if (inst->mon) {
        const char *keys[] = {"started_at", "ended_at", "reason", "error"};
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
            json_t *v = json_object_get(inst->mon, keys[i]);
            if (v)
                json_set(o, keys[i], json_copy(v));
        }
    }
    return o;
}
