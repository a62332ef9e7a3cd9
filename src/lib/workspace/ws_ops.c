/* Workspace lifecycle: create (seed and baseline), list, update, status,
 * stop, start, delete. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/dnsfilter.h"
#include "base/cleanup.h"
#include "base/id.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/record.h"
#include "base/timeutil.h"
#include "lib/contract/contract.h"
#include "lib/contract/params.h"
#include "lib/env/env.h"
#include "lib/host/hostpaths.h"
#include "lib/vm/instance_call.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_archive.h"
#include "lib/workspace/ws_schema.h"
#include "lib/workspace/ws_secrets.h"

static int ws_check_labels(const json_t *labels, pyro_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v) {
        if (!*k || strlen(k) > 64)
            return err_set(err, -PYRO_E_INVALID, "label keys must be 1 to 64 characters, got '%s'", k);
        if (!json_is_string(v) || json_string_length(v) > 256)
            return err_set(err, -PYRO_E_INVALID, "label '%s' must be a string of at most 256 bytes", k);
    }
    return 0;
}

/* The seed is checked and turned into a tar stream before anything is
 * created: a hostile archive leaves no workspace behind. A seed_path the
 * caller names goes through the host-path policy; the project source (the
 * server's own configuration) does not. */
static int ws_seed_prepare(struct pyro_ctx *ctx, const char *seed, bool project, int *fd_out, json_t **seed_rec,
                           pyro_error *err)
{
    *fd_out = -1;
    if (!seed || !*seed) {
        *seed_rec = json_pack("{s:s, s:n, s:s, s:n, s:i, s:i}", "mode", "empty", "seed_path", "origin_kind", "empty",
                              "origin_ref", "entries", 0, "bytes", 0);
        return 0;
    }
    _cleanup_free_ char *abs = NULL;
    _cleanup_close_ int src = -1;
    int r = host_open_source(ctx, project ? NULL : "seed_path", seed, &src, &abs, err);
    if (r < 0)
        return r;
    r = mkdir_p(ctx->state_dir, 0700, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = open(ctx->state_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_errno(err, errno, "create a temporary file in %s", ctx->state_dir);
    struct ws_import_limits lim = {WS_IMPORT_MAX_ENTRIES, WS_IMPORT_MAX_BYTES};
    json_auto_t *st = NULL;
    /* A project that is a git checkout contributes what its index tracks
     * (read without running git: the repository's configuration is not
     * ours to execute). */
    struct stat gst;
    if (project && fstatat(src, ".git", &gst, AT_SYMLINK_NOFOLLOW) == 0)
        r = ws_archive_build_git(src, abs, fd, &lim, &st, err);
    else
        r = ws_archive_build_fd(src, abs, fd, &lim, &st, err);
    if (r < 0)
        return err_prefix(err, "seed_path %s", seed);
    const char *kind = json_get_str(st, "kind", "directory");
    *seed_rec = json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:O}", "mode", kind, "seed_path", abs, "origin_kind", kind,
                          "origin_ref", abs, "entries", json_object_get(st, "entries"), "bytes",
                          json_object_get(st, "bytes"), "skipped", json_object_get(st, "skipped"));
    json_t *untracked = json_object_get(st, "untracked_skipped");
    if (untracked)
        json_set(*seed_rec, "untracked_skipped", json_incref(untracked));
    *fd_out = TAKE_FD(fd);
    return 0;
}

/* Starts the new workspace, fills /workspace and captures the baseline. */
static int ws_materialize(struct pyro_ctx *ctx, struct instance *inst, int seed_fd, pyro_error *err)
{
    ctx_progress(ctx, "workspace", "start", -1, -1, inst->id);
    int r = instance_start(ctx, inst, err);
    if (r < 0)
        return r;
    struct agent_conn *c = NULL;
    r = ws_agent(inst, &c, err);
    if (r < 0)
        return r;
    ctx_progress(ctx, "workspace", "seed", -1, -1, inst->id);
    json_t *res = NULL;
    if (seed_fd >= 0) {
        json_auto_t *req = json_pack("{s:s, s:{s:s, s:s, s:I, s:I}}", "op", "tar_in", "args", "root", "/", "path",
                                     "workspace", "max_entries", (json_int_t)WS_IMPORT_MAX_ENTRIES, "max_bytes",
                                     (json_int_t)WS_IMPORT_MAX_BYTES);
        if (lseek(seed_fd, 0, SEEK_SET) < 0)
            r = err_errno(err, errno, "seek");
        else
            r = agent_call_stream_in(c, req, agent_source_fd, &seed_fd, &res, WS_TREE_TIMEOUT_MS, err);
    } else {
        /* An empty archive: the agent makes the directory itself, so an
         * environment without mkdir (an OCI image) works too. */
        static const char empty_tar[1024];
        json_auto_t *req = json_pack("{s:s, s:{s:s, s:s}}", "op", "tar_in", "args", "root", "/", "path", "workspace");
        r = agent_call(c, req, empty_tar, sizeof(empty_tar), &res, NULL, WS_CALL_TIMEOUT_MS, err);
        if (r < 0)
            r = err_prefix(err, "could not create %s", WS_ROOT);
    }
    json_decref(res);
    res = NULL;
    if (r == 0) {
        ctx_progress(ctx, "workspace", "baseline", -1, -1, inst->id);
        r = ws_capture(inst, c, "baseline.tar", NULL, err);
    }
    if (r == 0)
        r = ws_manifest(c, &res, err);
    if (r == 0) {
        _cleanup_free_ char *mp = xasprintf("%s/baseline.manifest.json", inst->dir);
        r = record_save(mp, res, err);
    }
    json_decref(res);
    agent_conn_close(c);
    return r;
}

/* network_policy and allow_hosts into the record: "network" (the
 * backends' boolean), "network_policy", and "allow_hosts" normalized
 * (dnsfilter_entry_parse); bad ones change nothing. */
static int ws_network(json_t *args, json_t *rec, pyro_error *err)
{
    const char *policy = json_get_str(args, "network_policy", "off");
    json_t *allow = json_object_get(args, "allow_hosts");
    if (!json_array_size(allow))
        allow = NULL; /* an empty list is no list */
    if (allow && !strcmp(policy, "off"))
        return err_set(err, -PYRO_E_INVALID,
                       "allow_hosts needs network_policy egress or egress+published-ports (off has no network)");
    json_auto_t *norm = allow ? json_array() : NULL;
    for (size_t i = 0; allow && i < json_array_size(allow); i++) {
        char out[DNSFILTER_NAME_MAX];
        int r = dnsfilter_entry_parse(json_string_value(json_array_get(allow, i)), out, err);
        if (r < 0)
            return r;
        json_array_append_new(norm, json_string(out));
    }
    json_set(rec, "network", json_boolean(strcmp(policy, "off") != 0));
    json_set(rec, "network_policy", json_string(policy));
    if (norm)
        json_set(rec, "allow_hosts", json_incref(norm));
    return 0;
}

static int ws_create_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    json_t *labels = json_object_get(args, "labels");
    json_auto_t *net = json_object();
    int r = ws_check_labels(labels, err);
    if (r == 0)
        r = ws_network(args, net, err);
    if (r == 0)
        r = instance_check_size(ctx, json_get_int(args, "vcpu_count", PYRO_DEFAULT_VCPU_COUNT),
                                json_get_int(args, "mem_mib", PYRO_DEFAULT_MEM_MIB), err);
    json_auto_t *secrets = NULL;
    if (r == 0)
        r = ws_secrets_prepare(ctx, args, &secrets, err);
    if (r < 0)
        return r;
    if (secrets) /* errors from here on are redacted */
        ctx_redact_set(ctx, ws_secrets_redactor_of(secrets));
    _cleanup_close_ int seed_fd = -1;
    json_auto_t *seed = NULL;
    /* Without seed_path, a server started with a project source (pyro mcp
     * serve in a git checkout, --project-path, --repo-url) seeds from it. */
    const char *seed_path = json_get_str(args, "seed_path", NULL);
    bool from_project = (!seed_path || !*seed_path) && ctx->default_seed_path;
    r = ws_seed_prepare(ctx, from_project ? ctx->default_seed_path : seed_path, from_project, &seed_fd, &seed, err);
    if (r < 0)
        return r;
    if (from_project)
        json_set(seed, "origin_kind", json_string("project"));
    long long disk_mib = json_get_int(args, "disk_mib", PYRO_DEFAULT_WORKSPACE_DISK_MIB);
    if ((r = ws_disk_check_seed(disk_mib, json_get_int(seed, "bytes", 0), err)) < 0)
        return r;
    struct env_install envi;
    const char *envname = json_get_str(args, "environment", "");
    r = env_ensure(ctx, envname, &envi, err);
    if (r < 0)
        return r;
    char now[PYRO_TIME_ISO_LEN], exp[PYRO_TIME_ISO_LEN];
    int64_t t = time_wall_ms();
    long long ttl = json_get_int(args, "ttl_seconds", PYRO_DEFAULT_WORKSPACE_TTL_SECONDS);
    time_iso(now, t);
    time_iso(exp, t + ttl * 1000);
    json_auto_t *rec = json_pack(
        "{s:i, s:s, s:s, s:s, s:s, s:O, s:O, s:O, s:b, s:O, s:s, s:s, s:s, s:b, s:O, s:i, s:i, s:i, s:[], s:s}",
        "schema_version", 1, "kind", "workspace", "environment", envname, "environment_version", envi.version, "rootfs",
        envi.rootfs, "vcpu_count", json_object_get(args, "vcpu_count"), "mem_mib", json_object_get(args, "mem_mib"),
        "ttl_seconds", json_object_get(args, "ttl_seconds"), "network", 0, "allow_host_compat",
        json_object_get(args, "allow_host_compat"), "created_at", now, "expires_at", exp, "state", "creating",
        "persistent_upper", 1, "workspace_seed", seed, "command_count", 0, "reset_count", 0, "next_sequence", 1,
        "snapshots", "last_activity_at", now);
    /* "creating" until the baseline exists, owned by this process: a create
     * killed midway is listed as such and removed by reap-expired. */
    instance_own(rec);
    json_object_update(rec, net);
    json_set(rec, "disk_mib", json_integer(disk_mib));
    if ((r = instance_backend_choose(args, rec, err)) < 0)
        return r;
    json_t *name = json_object_get(args, "name");
    if (name)
        json_set(rec, "name", json_copy(name));
    json_set(rec, "labels", labels ? json_deep_copy(labels) : json_object());
    if (secrets)
        json_set(rec, "secrets", ws_secrets_meta(secrets));
    _cleanup_instance_ struct instance inst = {0};
    r = instance_create(ctx, WS_KIND, rec, &inst, err);
    if (r < 0)
        return r;
    r = ws_secrets_save(&inst, secrets, err);
    if (r == 0)
        r = ws_materialize(ctx, &inst, seed_fd, err);
    if (r == 0)
        r = ws_secrets_materialize(&inst, err);
    if (r == 0) {
        json_set(inst.rec, "state", json_string("started"));
        json_object_del(inst.rec, "owner");
        r = instance_save(&inst, err);
    }
    if (r < 0) {
        pyro_error derr = {0};
        instance_destroy(&inst, &derr);
        return err_prefix(err, "create workspace");
    }
    *result = ws_describe(&inst);
    return 0;
}

static int cmp_activity(const void *x, const void *y)
{
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    int c = strcmp(json_get_str(b, "last_activity_at", ""), json_get_str(a, "last_activity_at", ""));
    if (c)
        return c;
    return strcmp(json_get_str(b, "created_at", ""), json_get_str(a, "created_at", ""));
}

static int ws_list_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    (void)args;
    _cleanup_free_ char *base = NULL;
    int r = instance_base_dir(ctx, WS_KIND, &base, err);
    if (r < 0)
        return r;
    size_t n = 0, cap = 16;
    json_t **items = xmalloc(cap * sizeof(*items));
    _cleanup_closedir_ DIR *d = opendir(base);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!id_valid(de->d_name))
            continue;
        /* Records are replaced atomically: read them without waiting for
         * the lock of a workspace that runs a long command. */
        _cleanup_free_ char *dir = xasprintf("%s/%s", base, de->d_name);
        _cleanup_free_ char *rp = xasprintf("%s/record.json", dir);
        _cleanup_free_ char *mp = xasprintf("%s/monitor.json", dir);
        struct instance tmp = {.dir = dir, .id = de->d_name, .lock_fd = -1};
        if (record_load(rp, &tmp.rec, NULL) < 0)
            continue;
        record_load(mp, &tmp.mon, NULL);
        json_t *o = ws_describe(&tmp);
        ws_service_counts(&tmp, o);
        json_t *pending = json_object_get(tmp.rec, "pending");
        if (pending)
            json_set(o, "pending_operation", json_string(json_get_str(pending, "op", "")));
        json_decref(tmp.rec);
        json_decref(tmp.mon);
        if (n == cap)
            items = xrealloc(items, (cap *= 2) * sizeof(*items));
        items[n++] = o;
    }
    qsort(items, n, sizeof(*items), cmp_activity);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, items[i]);
    free(items);
    *result = json_pack("{s:I, s:o}", "count", (json_int_t)n, "workspaces", arr);
    return 0;
}

static int ws_update_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    json_t *name = json_object_get(args, "name"), *labels = json_object_get(args, "labels");
    json_t *clear = json_object_get(args, "clear_labels");
    bool clear_name = json_get_bool(args, "clear_name", false);
    if (name && clear_name)
        return err_set(err, -PYRO_E_INVALID, "give either name or clear_name, not both");
    if (!name && !clear_name && !labels && !json_array_size(clear))
        return err_set(err, -PYRO_E_INVALID, "nothing to update: give name, clear_name, labels or clear_labels");
    int r = ws_check_labels(labels, err);
    if (r < 0)
        return r;
    _cleanup_instance_ struct instance inst = {0};
    r = ws_open_op(ctx, args, &inst, NULL, err);
    if (r < 0)
        return r;
    if (name)
        json_set(inst.rec, "name", json_copy(name));
    if (clear_name)
        json_object_del(inst.rec, "name");
    json_t *cur = json_object_get(inst.rec, "labels");
    if (!cur) {
        cur = json_object();
        json_set(inst.rec, "labels", cur);
    }
    size_t i;
    json_t *v;
    json_array_foreach(clear, i, v)
        json_object_del(cur, json_string_value(v));
    if (labels)
        json_object_update(cur, labels);
    if (json_object_size(cur) > 32)
        return err_set(err, -PYRO_E_LIMIT, "a workspace has at most 32 labels");
    r = ws_touch(&inst, err);
    if (r == 0)
        *result = ws_describe(&inst);
    return r;
}

static int ws_status_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = ws_open_op(ctx, args, &inst, NULL, err);
    if (r < 0)
        return r;
    *result = ws_describe(&inst);
    ws_service_counts(&inst, *result);
    return 0;
}

static int ws_stop_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = ws_open_op(ctx, args, &inst, NULL, err);
    if (r < 0)
        return r;
    json_auto_t *stopped = ws_services_stop_all(&inst, "workspace_stopped");
    int shells = ws_shells_close_all(&inst);
    if (instance_monitor_alive(&inst)) {
        /* Flush the guest file system before the sandbox goes away. */
        json_auto_t *a = json_pack("{s:s}", "root", "/");
        json_t *res = NULL;
        pyro_error ferr = {0};
        if (instance_call(&inst, "fs_flush", a, WS_CALL_TIMEOUT_MS, &res, &ferr) == 0)
            json_decref(res);
    }
    r = instance_stop(&inst, err);
    if (r == 0)
        r = ws_touch(&inst, err);
    if (r == 0) {
        *result = ws_describe(&inst);
        json_set(*result, "stopped_services", json_incref(stopped));
        json_set(*result, "closed_shells", json_integer(shells));
    }
    return r;
}

static int ws_start_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = ws_open_op(ctx, args, &inst, NULL, err);
    if (r < 0)
        return r;
    if (!instance_monitor_alive(&inst)) {
        r = instance_start(ctx, &inst, err);
        if (r == 0)
            r = ws_secrets_materialize(&inst, err);
        if (r == 0) {
            json_object_del(inst.rec, "stopped_at");
            r = ws_touch(&inst, err);
        }
    }
    if (r == 0)
        *result = ws_describe(&inst);
    return r;
}

static int ws_delete_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    const char *id = json_get_str(args, "workspace_id", "");
    /* No recovery on delete: an interrupted create, reset or delete is
     * simply removed. */
    int r = instance_open(ctx, WS_KIND, id, &inst, err);
    if (r < 0)
        return r;
    json_auto_t *stopped = ws_services_stop_all(&inst, "deleted");
    int shells = ws_shells_close_all(&inst);
    r = instance_destroy(&inst, err);
    if (r == 0)
        *result = json_pack("{s:s, s:b, s:s, s:O, s:i}", "workspace_id", inst.id, "deleted", 1, "state", "deleted",
                            "stopped_services", stopped, "closed_shells", shells);
    return r;
}

static const char *const ws_network_policies[] = {"off", "egress", "egress+published-ports", NULL};
static const struct contract_param ws_create_params[] = {
    PARAM_ENVIRONMENT,
    PARAM_VCPU_COUNT,
    PARAM_MEM_MIB,
    PARAM_WORKSPACE_DISK_MIB,
    PARAM_WORKSPACE_TTL_SECONDS,
    PARAM_ALLOW_HOST_COMPAT,
    PARAM_BACKEND,
    PARAM_STR("seed_path",
              "Host directory or .tar/.tar.gz/.tgz archive copied into /workspace before the "
              "baseline is captured. Over MCP it must lie beneath the server's allowed host paths.",
              .metavar = "PATH"),
    PARAM_WORKSPACE_NAME,
    PARAM_WORKSPACE_LABELS,
    PARAM_STR("network_policy",
              "Network of the workspace: off (only loopback; no NIC in a VM), egress (outbound through NAT, "
              "never to the host or link-local addresses), or egress+published-ports (egress, and services may "
              "publish ports on the host's 127.0.0.1).",
              .flags = PF_FULL_ONLY, .has_default = true, .def_str = "off", .choices = ws_network_policies, .max = 32),
    PARAM_LIST("allow_hosts",
               "Egress allow-list (needs an egress policy, and root): domain names (a leading '*.' matches every "
               "name below) and IPv4 CIDRs. Enforced on the network layer: only listed CIDRs and the addresses "
               "the workspace's DNS filter resolved for listed names are reachable; other names do not resolve.",
               .flags = PF_FULL_ONLY, .flag = "allow-host", .metavar = "HOST|CIDR", .max = 64),
    WS_SECRETS_PARAMS,
    PARAM_END,
};
static const struct contract_param ws_id_params[] = {PARAM_WORKSPACE_ID, PARAM_END};
static const struct contract_param ws_update_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_WORKSPACE_NAME,
    PARAM_BOOL("clear_name", "Remove the name."),
    PARAM_WORKSPACE_LABELS,
    PARAM_LIST("clear_labels", "Label keys to remove.", .flag = "clear-label", .metavar = "KEY", .max = 32),
    PARAM_END,
};
static const struct contract_param no_params[] = {PARAM_END};

const struct contract_op op_workspace_create = {
    .name = "workspace_create",
    .cli = "workspace create",
    .title = "Create a workspace",
    .summary = "Create and start a persistent workspace, optionally seeded.",
    .description = "Create and start a persistent workspace: the sandbox boots, seed_path (a host directory or a "
                   ".tar/.tar.gz/.tgz archive, checked entry by entry) is copied into /workspace, and an immutable "
                   "baseline of /workspace is captured for diff. Without seed_path, an MCP server started with a "
                   "project source seeds from that project. The workspace expires after ttl_seconds "
                   "(default 24 h).",
    .params = ws_create_params,
    .output_schema = WS_RECORD_SCHEMA,
    .exposure = WS_FULL | WS_CORE | WS_REPRO | WS_INSPECT | WS_COLD | WS_REVIEW,
    .id_key = "workspace_id",
    .handler = ws_create_run,
};

const struct contract_op op_workspace_list = {
    .name = "workspace_list",
    .cli = "workspace list",
    .title = "List workspaces",
    .summary = "List workspaces, most recent activity first.",
    .description = "List every workspace with its name, labels, state, expiry and counts, most recent mutating "
                   "activity first.",
    .params = no_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"count\",\"workspaces\"],\"properties\":{"
                     "\"count\":" WS_INT ",\"workspaces\":" WS_ARR_OBJ "}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = WS_FULL | WS_CORE,
    .handler = ws_list_run,
};

const struct contract_op op_workspace_update = {
    .name = "workspace_update",
    .cli = "workspace update",
    .title = "Update a workspace",
    .summary = "Change a workspace's name and labels.",
    .description = "Set or clear the workspace's name, and set or remove labels.",
    .params = ws_update_params,
    .output_schema = WS_RECORD_SCHEMA,
    .annotations = PA_IDEMPOTENT,
    .exposure = WS_FULL | WS_CORE,
    .handler = ws_update_run,
};

const struct contract_op op_workspace_status = {
    .name = "workspace_status",
    .cli = "workspace status",
    .title = "Workspace status",
    .summary = "Show a workspace's state, metadata and latest command.",
    .description = "Return the workspace record: state, environment, resources, times, seed, counts and the "
                   "latest command. Adds nothing to the history.",
    .params = ws_id_params,
    .output_schema = WS_RECORD_SCHEMA,
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = WS_FULL | WS_CORE | WS_REPRO | WS_INSPECT | WS_COLD | WS_REVIEW,
    .handler = ws_status_run,
};

const struct contract_op op_workspace_stop = {
    .name = "workspace_stop",
    .cli = "workspace stop",
    .title = "Stop a workspace",
    .summary = "Stop a workspace, keeping /workspace, snapshots and history.",
    .description = "Flush the guest file system and stop the sandbox. /workspace, snapshots and the command "
                   "history are kept; 'workspace start' continues where it stopped.",
    .params = ws_id_params,
    .output_schema = WS_RECORD_SCHEMA,
    .annotations = PA_IDEMPOTENT,
    .exposure = WS_FULL,
    .handler = ws_stop_run,
};

const struct contract_op op_workspace_start = {
    .name = "workspace_start",
    .cli = "workspace start",
    .title = "Start a workspace",
    .summary = "Start a stopped workspace with its files intact.",
    .description = "Start the workspace's sandbox again over its kept writable layer: /workspace is as it was "
                   "at stop. Fails when max_active_vms sandboxes already run, or when the running ones and this "
                   "one would take more memory or vCPUs than the host-wide caps.",
    .params = ws_id_params,
    .output_schema = WS_RECORD_SCHEMA,
    .annotations = PA_IDEMPOTENT,
    .exposure = WS_FULL,
    .handler = ws_start_run,
};

const struct contract_op op_workspace_delete = {
    .name = "workspace_delete",
    .cli = "workspace delete",
    .title = "Delete a workspace",
    .summary = "Stop a workspace and remove every trace of it.",
    .description = "Stop the workspace if it runs and remove its processes, mounts, cgroups, snapshots, history "
                   "and files.",
    .params = ws_id_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"deleted\"],\"properties\":{"
                     "\"workspace_id\":" WS_STR ",\"deleted\":" WS_BOOL ",\"state\":" WS_STR
                     ",\"stopped_services\":" WS_ARR_OBJ ",\"closed_shells\":" WS_INT "}}",
    .annotations = PA_DESTRUCTIVE | PA_IDEMPOTENT,
    .exposure = WS_FULL | WS_CORE | WS_REPRO | WS_INSPECT | WS_COLD | WS_REVIEW,
    .handler = ws_delete_run,
};
