/* The "doctor" operation: what this host can run, and why (docs/doctor.md). */
#include "lib/host/doctor.h"
#include "lib/host/daily_loop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/paths.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"

/* Creates the state dir if needed and writes and removes a probe file. */
static bool check_state_dir(struct doctor *d, const char *dir)
{
    pyro_error err = {0};
    const char *hint = "set PYRO_HOME (or XDG_STATE_HOME) to a writable directory";
    if (mkdir_p(dir, 0700, &err) < 0) {
        doctor_check_add(d, "state_dir", "fail", hint, "%s", err.message);
        return false;
    }
    _cleanup_free_ char *probe = xasprintf("%s/.doctor-probe.%ld", dir, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        doctor_check_add(d, "state_dir", "fail", hint, "cannot create a file in %s: %s", dir, strerror(errno));
        return false;
    }
    bool ok = write(fd, "ok\n", 3) == 3;
    int werr = errno;
    ok = close(fd) == 0 && ok;
    unlink(probe);
    if (!ok) {
        doctor_check_add(d, "state_dir", "fail", hint, "cannot write to %s: %s", dir, strerror(werr));
        return false;
    }
    doctor_check_add(d, "state_dir", "pass", "", "%s is writable", dir);
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the (escaped) names of the directories below <cache>/environments,
 * at most DOCTOR_MAX_ENVIRONMENTS; *truncated says whether there were more. */
static json_t *check_environments(struct doctor *d, const char *env_dir, bool *truncated)
{
    *truncated = false;
    json_t *list = json_array();
    _cleanup_closedir_ DIR *dir = opendir(env_dir);
    if (!dir) {
        if (errno == ENOENT)
            doctor_check_add(d, "environments", "warn", "pyro env pull debian:12", "none installed (%s does not exist)",
                             env_dir);
        else
            doctor_check_add(d, "environments", "warn", "check the permissions of the cache dir", "cannot read %s: %s",
                             env_dir, strerror(errno));
        return list;
    }
    char *names[DOCTOR_MAX_ENVIRONMENTS];
    size_t n = 0;
    bool more = false;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (n == DOCTOR_MAX_ENVIRONMENTS) {
            more = true;
            break;
        }
        names[n++] = xstrdup(de->d_name);
    }
    *truncated = more;
    qsort(names, n, sizeof(names[0]), cmp_str);
    char shown[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(list, json_bytes(names[i], strlen(names[i]), NULL));
        if (used < sizeof(shown))
            used += (size_t)snprintf(shown + used, sizeof(shown) - used, "%s%s", i ? ", " : "", names[i]);
        free(names[i]);
    }
    if (used >= sizeof(shown)) /* the detail is a preview; "environments" has every name */
        memcpy(shown + sizeof(shown) - 4, "...", 4);
    if (n == 0)
        doctor_check_add(d, "environments", "warn", "pyro env pull debian:12", "none installed in %s", env_dir);
    else
        doctor_check_add(d, "environments", "pass", "", "%zu%s in %s: %s", n, more ? "+" : "", env_dir, shown);
    return list;
}

/* The caps on running sandboxes (docs/vm.md "Host-wide caps"). */
static json_t *check_limits(struct doctor *d, const struct pyro_ctx *ctx)
{
    char mem_from[96], cpu_from[96];
    if (ctx->max_total_mem_from_env)
        snprintf(mem_from, sizeof(mem_from), "PYRO_MAX_TOTAL_MEM_MIB");
    else if (ctx->host_mem_mib)
        snprintf(mem_from, sizeof(mem_from), "%d%% of %lld MiB MemTotal", PYRO_DEFAULT_TOTAL_MEM_PERCENT,
                 (long long)ctx->host_mem_mib);
    else
        snprintf(mem_from, sizeof(mem_from), "MemTotal unknown");
    if (ctx->max_total_vcpus_from_env)
        snprintf(cpu_from, sizeof(cpu_from), "PYRO_MAX_TOTAL_VCPUS");
    else
        snprintf(cpu_from, sizeof(cpu_from), "%d x %d online CPUs", PYRO_DEFAULT_VCPUS_PER_CPU, ctx->host_cpus);
    const char *status = "pass", *hint = "";
    if (!ctx->host_mem_mib) {
        status = "warn";
        hint = "/proc/meminfo is unreadable: set PYRO_MAX_TOTAL_MEM_MIB";
    } else if (ctx->max_total_mem_mib > ctx->host_mem_mib) {
        status = "warn";
        hint = "PYRO_MAX_TOTAL_MEM_MIB is above the host's memory: running sandboxes may exhaust it";
    }
    doctor_check_add(d, "limits", status, hint,
                     "running sandboxes together: at most %d, %lld MiB of memory (%s; also the memory limit of "
                     "the pyro cgroup) and %d vCPUs (%s)",
                     ctx->max_active_vms, (long long)ctx->max_total_mem_mib, mem_from, ctx->max_total_vcpus, cpu_from);
    return json_pack("{s:i, s:I, s:i, s:b, s:b, s:I, s:i}", "max_active_vms", ctx->max_active_vms, "max_total_mem_mib",
                     (json_int_t)ctx->max_total_mem_mib, "max_total_vcpus", ctx->max_total_vcpus,
                     "max_total_mem_mib_from_env", ctx->max_total_mem_from_env, "max_total_vcpus_from_env",
                     ctx->max_total_vcpus_from_env, "host_mem_mib", (json_int_t)ctx->host_mem_mib, "host_cpus",
                     ctx->host_cpus);
}

static json_t *sandbox_summary(const struct doctor *d)
{
    bool privileged = d->root || d->userns_ok;
    bool ids = d->root || (d->subids_ok && d->uidmap_ok);
    bool available = privileged && ids && d->ns_ok && d->overlay_ok && d->seccomp_ok;
    char reason[256];
    if (available) {
        snprintf(reason, sizeof(reason), "%s; namespaces, overlayfs and seccomp work",
                 d->root ? "running as root" : "user namespaces, subordinate ids and newuidmap/newgidmap work");
    } else {
        int n = snprintf(reason, sizeof(reason), "not working:");
        const struct {
            bool ok;
            const char *what;
        } need[] = {{privileged, "user namespaces (not root)"},
                    {d->root || d->subids_ok, "subordinate ids (not root)"},
                    {d->root || d->uidmap_ok, "newuidmap/newgidmap (not root)"},
                    {d->ns_ok, "namespaces"},
                    {d->overlay_ok, "overlayfs"},
                    {d->seccomp_ok, "seccomp"}};
        const char *sep = " ";
        for (size_t i = 0; i < ARRAY_SIZE(need); i++)
            if (!need[i].ok && (size_t)n < sizeof(reason)) {
                n += snprintf(reason + n, sizeof(reason) - (size_t)n, "%s%s", sep, need[i].what);
                sep = ", ";
            }
    }
    return json_pack("{s:b, s:s}", "available", available, "reason", reason);
}

static json_t *vm_summary(const struct doctor *d)
{
    char reason[PYRO_ERROR_MESSAGE_MAX + 64];
    bool available = false;
    if (!d->qemu_ok)
        snprintf(reason, sizeof(reason), "%s is missing or unusable", QEMU_BINARY);
    else if (!d->qemu.microvm)
        snprintf(reason, sizeof(reason), "%s lacks the microvm machine type", d->qemu.path);
    else if (!d->accel_ok)
        snprintf(reason, sizeof(reason), "%s", d->accel_error);
    else if (!strcmp(d->accel.name, "kvm") ? !d->qemu.accel_kvm : !d->qemu.accel_tcg)
        snprintf(reason, sizeof(reason), "%s does not support the %s accelerator", d->qemu.path, d->accel.name);
    else {
        available = true;
        snprintf(reason, sizeof(reason), "QEMU %s microvm with %s: %s", d->qemu.version, d->accel.name,
                 d->accel.reason);
    }
    return json_pack("{s:b, s:o, s:s}", "available", available, "accelerator",
                     available ? json_string(d->accel.name) : json_null(), "reason", reason);
}

/* What backend=auto picks here (the same rule as instance_backend_choose:
 * vm where KVM runs guests natively, else sandbox) and the
 * default. */
static json_t *auto_summary(const struct doctor *d, const json_t *vm)
{
    bool kvm = json_is_true(json_object_get(vm, "available")) && d->accel_ok && !strcmp(d->accel.name, "kvm");
    char reason[PYRO_ERROR_MESSAGE_MAX + 64];
    if (kvm)
        snprintf(reason, sizeof(reason), "KVM runs guests natively here: %s", d->accel.reason);
    else if (json_is_true(json_object_get(vm, "available")))
        snprintf(reason, sizeof(reason), "VMs would run under TCG (%s); backend=vm still runs them there",
                 d->accel.reason);
    else
        snprintf(reason, sizeof(reason), "the vm backend is unavailable: %s",
                 json_string_value(json_object_get(vm, "reason")));
    const char *def = getenv("PYRO_BACKEND");
    return json_pack("{s:s, s:s, s:s}", "backend", kvm ? "vm" : "sandbox", "reason", reason, "default",
                     def && def[0] ? def : "auto");
}

static int doctor_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{

    (void)err;
    struct doctor d = {.checks = json_array(), .root = geteuid() == 0};
    json_t *res = json_object();
    doctor_check_platform(&d, res);
    doctor_check_kvm(&d);
    doctor_check_qemu(&d);
    doctor_check_userns(&d);
    doctor_check_namespaces(&d);
    bool state_ok = check_state_dir(&d, ctx->state_dir);
    const char *tmp = getenv("TMPDIR");
    const char *scratch = state_ok ? ctx->state_dir : (tmp && tmp[0] == '/' ? tmp : "/tmp");
    doctor_check_overlayfs(&d, scratch);
    json_t *cgroups = doctor_check_cgroups(&d);
    doctor_check_seccomp(&d);
    doctor_check_network(&d);
    doctor_check_disk_quota(&d);
    doctor_check_subids(&d);
    doctor_check_uidmap(&d);
    doctor_check_overlay_userns(&d, scratch);
    doctor_check_user_network(&d);
    doctor_check_cgroup_delegation(&d);
    doctor_check_kvm_group(&d);
    doctor_check_id_pool(&d);
    _cleanup_free_ char *env_dir = xasprintf("%s/environments", ctx->cache_dir);
    bool envs_truncated;
    json_t *envs = check_environments(&d, env_dir, &envs_truncated);
    json_t *limits = check_limits(&d, ctx);

    json_t *sandbox = sandbox_summary(&d);
    json_t *vm = vm_summary(&d);
    bool ok = json_is_true(json_object_get(sandbox, "available")) || json_is_true(json_object_get(vm, "available"));
    json_set(res, "checks", d.checks);
    json_t *autosel = auto_summary(&d, vm);
    json_set(res, "backends", json_pack("{s:o, s:o, s:o}", "sandbox", sandbox, "vm", vm, "auto", autosel));
    json_set(res, "cgroups", cgroups);
    json_set(res, "rootless", doctor_rootless_summary(&d));
    json_set(res, "sandbox_limits", doctor_sandbox_limits(&d));
    json_set(res, "limits", limits);
    json_set(res, "state_dir", json_bytes(ctx->state_dir, strlen(ctx->state_dir), NULL));
    json_set(res, "cache_dir", json_bytes(ctx->cache_dir, strlen(ctx->cache_dir), NULL));
    json_set(res, "environments_dir", json_bytes(env_dir, strlen(env_dir), NULL));
    json_set(res, "environments", envs);
    json_set(res, "environments_truncated", json_boolean(envs_truncated));
    json_set(res, "ok", json_boolean(ok));
    const char *env = json_get_str(args, "environment", NULL);
    if (env)
        json_set(res, "daily_loop", daily_loop_verdict(ctx->cache_dir, env));
    qemu_info_clear(&d.qemu);
    *result = res;
    return 0;
}

static const struct contract_param doctor_params[] = {
    PARAM_STR("environment",
              "Also report the daily-loop readiness of this environment: warm (prepared by this pyro, still "
              "installed), cold (never prepared) or stale (see 'pyro prepare').",
              .max = 128),
    PARAM_END,
};

#define S_STR "{\"type\":\"string\"}"
#define S_BOOL "{\"type\":\"boolean\"}"
#define S_INT "{\"type\":\"integer\"}"
#define S_STATUS "{\"type\":\"string\",\"enum\":[\"pass\",\"warn\",\"fail\"]}"
#define S_LIMIT                                                                                                  \
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"enforced\",\"by\"],"                    \
    "\"properties\":{\"enforced\":" S_BOOL ",\"by\":{\"type\":\"string\",\"enum\":[\"cgroup_v1\",\"cgroup_v2\"," \
    "\"rlimit_nproc\",\"none\"]}}}"
#define S_CGROUP_CTL                                                                                \
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"hierarchy\",\"usable\"],"  \
    "\"properties\":{\"hierarchy\":{\"type\":[\"string\",\"null\"],\"enum\":[\"v1\",\"v2\",null]}," \
    "\"usable\":" S_BOOL "}}"

const struct contract_op op_doctor = {
    .name = "doctor",
    .cli = "doctor",
    .title = "Check host readiness",
    .summary = "Check what this host can run (KVM, QEMU, namespaces, cgroups, rootless operation, state).",
    .description = "Probe the host for everything pyro's isolation backends need: platform and kernel, KVM "
                   "and whether guests run at native speed there (else the VM backend uses TCG), QEMU and its "
                   "microvm machine, user and other namespaces, overlayfs, cgroups, seccomp, /dev/net/tun, IP "
                   "forwarding, the state dir and installed environments, and what running as an ordinary user "
                   "needs (subordinate ids, newuidmap/newgidmap, overlayfs in a user namespace, pasta or "
                   "slirp4netns, cgroup delegation, the kvm group; as root the id pool); reports the caps on "
                   "running sandboxes (limits), whether rootless operation is ready (rootless) and which sandbox "
                   "limits are enforced for the current user (sandbox_limits). Each check has a status "
                   "(pass/warn/fail), a detail and a fix hint; `backends` says which backend can run. The CLI "
                   "exits 0 when at least one backend is available, 1 otherwise.",
    .params = doctor_params,
    .output_schema =
        "{\"type\":\"object\",\"additionalProperties\":false,"
        "\"required\":[\"platform\",\"kernel\",\"checks\",\"backends\",\"cgroups\",\"rootless\","
        "\"sandbox_limits\",\"limits\",\"state_dir\","
        "\"cache_dir\","
        "\"environments_dir\",\"environments\",\"environments_truncated\",\"ok\"],"
        "\"properties\":{"
        "\"platform\":" S_STR ",\"kernel\":" S_STR ","
        "\"checks\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"required\":[\"name\",\"status\",\"detail\",\"hint\"],\"properties\":{\"name\":" S_STR ",\"status\":" S_STATUS
        ",\"detail\":" S_STR ",\"hint\":" S_STR "}}},"
        "\"backends\":{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"sandbox\",\"vm\"],"
        "\"properties\":{"
        "\"sandbox\":{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"available\",\"reason\"],"
        "\"properties\":{\"available\":" S_BOOL ",\"reason\":" S_STR "}},"
        "\"vm\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"required\":[\"available\",\"accelerator\",\"reason\"],"
        "\"properties\":{\"available\":" S_BOOL ",\"accelerator\":{\"type\":[\"string\",\"null\"],"
        "\"enum\":[\"kvm\",\"tcg\",null]},\"reason\":" S_STR "}},"
        "\"auto\":{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"backend\",\"reason\","
        "\"default\"],\"properties\":{\"backend\":{\"type\":\"string\",\"enum\":[\"sandbox\",\"vm\"]},"
        "\"reason\":" S_STR ",\"default\":" S_STR "}}}},"
        "\"cgroups\":{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"version\",\"controllers\"],"
        "\"properties\":{\"version\":{\"type\":\"string\",\"enum\":[\"none\",\"v1\",\"v2\",\"hybrid\"]},"
        "\"controllers\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"required\":[\"memory\",\"pids\",\"cpu\"],\"properties\":{\"memory\":" S_CGROUP_CTL ",\"pids\":" S_CGROUP_CTL
        ",\"cpu\":" S_CGROUP_CTL "}}}},"
        "\"rootless\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"required\":[\"ready\",\"missing\",\"summary\"],\"properties\":{\"ready\":" S_BOOL
        ",\"missing\":{\"type\":\"array\",\"items\":" S_STR "},\"summary\":" S_STR "}},"
        "\"sandbox_limits\":{\"type\":\"object\",\"additionalProperties\":false,"
        "\"required\":[\"uid\",\"memory\",\"pids\",\"cpu\",\"summary\"],\"properties\":{\"uid\":" S_INT
        ",\"memory\":" S_LIMIT ",\"pids\":" S_LIMIT ",\"cpu\":" S_LIMIT ",\"summary\":" S_STR "}},"
        "\"limits\":{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"max_active_vms\","
        "\"max_total_mem_mib\",\"max_total_vcpus\",\"max_total_mem_mib_from_env\",\"max_total_vcpus_from_env\","
        "\"host_mem_mib\",\"host_cpus\"],\"properties\":{\"max_active_vms\":" S_INT ",\"max_total_mem_mib\":" S_INT
        ",\"max_total_vcpus\":" S_INT ",\"max_total_mem_mib_from_env\":" S_BOOL ",\"max_total_vcpus_from_env\":" S_BOOL
        ",\"host_mem_mib\":" S_INT ",\"host_cpus\":" S_INT "}},"
        "\"state_dir\":" S_STR ",\"cache_dir\":" S_STR ",\"environments_dir\":" S_STR ","
        "\"environments\":{\"type\":\"array\",\"items\":" S_STR "},\"environments_truncated\":" S_BOOL ","
        "\"ok\":" S_BOOL ","
        "\"daily_loop\":{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"environment\","
        "\"status\",\"reason\",\"manifest_path\"],\"properties\":{\"environment\":" S_STR ",\"status\":{"
        "\"type\":\"string\",\"enum\":[\"warm\",\"cold\",\"stale\"]},\"reason\":" S_STR ",\"manifest_path\":" S_STR
        ",\"prepared_at\":" S_STR ",\"execution_mode\":" S_STR "}}}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = 0,
    .handler = doctor_run,
};
