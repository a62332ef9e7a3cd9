/* Services of a workspace (docs/workspaces.md "Services"): service_start,
 * service_list, service_status, service_logs and service_stop, each one
 * request to the agent, which owns the services (agent/service.h). The
 * agent's records (checked in proto/reply.c) become the public ones here:
 * times in float epoch seconds, null where a time or code is not known.
 * Workspace stop, reset and delete stop every service first
 * (ws_services_stop_all) with their reason. */
#include <errno.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "lib/contract/contract.h"
#include "lib/contract/params.h"
#include "lib/vm/instance_call.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_schema.h"
#include "lib/workspace/ws_secrets.h"
#include "proto/defaults.h"

/* The agent's grace period (TERM to KILL) plus its wait after KILL, and a
 * margin for a slow VM. */
#define SVC_TEARDOWN_MS (3000 + 5000 + 30000)
#define SVC_DEFAULT_TAIL_LINES 200

static json_t *ms_or_null(const json_t *rec, const char *key)
{
    const json_t *v = json_object_get(rec, key);
    return v ? json_real((double)json_integer_value(v) / 1000.0) : json_null();
}

static json_t *copy_or_null(const json_t *rec, const char *key)
{
    const json_t *v = json_object_get(rec, key);
    return v ? json_deep_copy(v) : json_null();
}

/* The public record of the agent's (a checked reply). */
static json_t *service_public(const char *ws_id, const json_t *rec)
{
    json_t *o = json_object();
    json_set(o, "workspace_id", json_string(ws_id));
    const char *copy[] = {"service_name", "command", "cwd", "state", "pid", "ready_interval_ms", "logs_dir"};
    for (size_t i = 0; i < ARRAY_SIZE(copy); i++)
        json_set(o, copy[i], copy_or_null(rec, copy[i]));
    json_set(o, "started_at", ms_or_null(rec, "started_at_ms"));
    json_set(o, "ready_at", ms_or_null(rec, "ready_at_ms"));
    json_set(o, "ended_at", ms_or_null(rec, "ended_at_ms"));
    json_set(o, "exit_code", copy_or_null(rec, "exit_code"));
    json_set(o, "stop_reason", copy_or_null(rec, "stop_reason"));
    json_set(o, "readiness", copy_or_null(rec, "readiness"));
    json_set(o, "ready_timeout_seconds", json_integer(json_get_int(rec, "ready_timeout_ms", 0) / 1000));
    if (json_object_get(rec, "signal"))
        json_set(o, "signal", copy_or_null(rec, "signal"));
    if (json_object_get(rec, "stdout_tail")) {
        json_set(o, "stdout_tail", copy_or_null(rec, "stdout_tail"));
        json_set(o, "stderr_tail", copy_or_null(rec, "stderr_tail"));
    }
    return o;
}

static json_t *list_public(const char *ws_id, const json_t *res, const char *only_reason)
{
    json_t *arr = json_array(), *e;
    size_t i;
    json_array_foreach(json_object_get(res, "services"), i, e) {
        if (only_reason && strcmp(json_get_str(e, "stop_reason", ""), only_reason))
            continue;
        json_array_append_new(arr, service_public(ws_id, e));
    }
    return arr;
}

/* The ports of a public service record among all published ones: none
 * once it ended (the monitor closes them within a second). */
static json_t *ports_of(const json_t *svc, const json_t *ports)
{
    json_t *out = json_array(), *e;
    const char *st = json_get_str(svc, "state", "");
    if (strcmp(st, "running") && strcmp(st, "starting"))
        return out;
    size_t i;
    json_array_foreach(ports, i, e)
        if (!strcmp(json_get_str(e, "service_name", ""), json_get_str(svc, "service_name", "")))
            json_array_append(out, e);
    return out;
}

/* Opens the workspace, which must run. */
static int open_running(struct pyro_ctx *ctx, json_t *args, struct instance *inst, pyro_error *err)
{
    int r = ws_open_op(ctx, args, inst, NULL, err);
    return r < 0 ? r : ws_require_running(inst, err);
}

/* The readiness object from the flat parameters (at most one). */
static int readiness_build(const json_t *args, json_t **out, pyro_error *err)
{
    static const char *const params[][3] = {{"ready_file", "file", "path"},
                                            {"ready_tcp", "tcp", "address"},
                                            {"ready_http", "http", "url"},
                                            {"ready_command", "command", "command"}};
    *out = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(params); i++) {
        const char *v = json_get_str(args, params[i][0], NULL);
        if (!v)
            continue;
        if (*out) {
            json_decref(*out);
            *out = NULL;
            return err_set(err, -PYRO_E_INVALID,
                           "give at most one of ready_file, ready_tcp, ready_http and ready_command");
        }
        _cleanup_free_ char *abs = NULL;
        /* A relative file is resolved against /workspace. */
        if (i == 0 && v[0] != '/')
            v = abs = xasprintf("%s/%s", WS_ROOT, v);
        *out = json_pack("{s:s, s:s}", "type", params[i][1], params[i][2], v);
    }
    return 0;
}

/* -EEXIST when a service of this name is starting or running (the
 * agent's own check, made before any port is bound). */
static int running_check(const struct instance *inst, const char *name, pyro_error *err)
{
    json_auto_t *a = json_pack("{s:s}", "name", name);
    json_t *res = NULL;
    pyro_error e = {0};
    int r = instance_call(inst, "service_status", a, WS_CALL_TIMEOUT_MS, &res, &e);
    if (r < 0) {
        if (r == -PYRO_E_NOT_FOUND)
            return 0;
        *err = e;
        return r;
    }
    const char *st = json_get_str(res, "state", "");
    if (!strcmp(st, "running") || !strcmp(st, "starting"))
        r = err_set(err, -EEXIST, "service '%s' already exists and is %s: stop it first", name, st);
    json_decref(res);
    return r;
}

static int svc_start_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    json_auto_t *ready = NULL;
    int r = readiness_build(args, &ready, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *rel = NULL, *cwd = NULL;
    r = ws_guest_rel(json_get_str(args, "cwd", WS_ROOT), &rel, err);
    if (r < 0)
        return r;
    cwd = ws_guest_abs(rel);
    long long timeout_s = json_get_int(args, "ready_timeout_seconds", 30);
    json_auto_t *a = json_pack("{s:s, s:s, s:s, s:I, s:I}", "name", json_get_str(args, "service_name", ""), "command",
                               json_get_str(args, "command", ""), "cwd", cwd, "ready_timeout_ms",
                               (json_int_t)timeout_s * 1000, "ready_interval_ms",
                               (json_int_t)json_get_int(args, "ready_interval_ms", PROTO_SERVICE_INTERVAL_MS));
    if (ready)
        json_set(a, "readiness", json_incref(ready));
    _cleanup_instance_ struct instance inst = {0};
    r = open_running(ctx, args, &inst, err);
    json_t *env = NULL;
    if (r == 0)
        r = ws_secrets_env(&inst, json_object_get(args, "secret_env"), &env, err);
    if (r < 0)
        return r;
    if (env)
        json_set(a, "env", env);
    const char *name = json_get_str(args, "service_name", "");
    const json_t *want = json_object_get(args, "published_ports");
    json_auto_t *ports = json_array();
    int64_t token = 0;
    if (json_array_size(want)) {
        /* The ports are bound before the service starts (a busy one
         * starts nothing), so a running service of this name is refused
         * first: its ports stay. */
        if ((r = running_check(&inst, name, err)) < 0)
            return r;
        json_decref(ports);
        ports = NULL;
        r = ws_ports_publish(&inst, name, want, timeout_s * 1000 + SVC_TEARDOWN_MS + 60000, &token, &ports, err);
        if (r < 0)
            return r;
    }
    ctx_progress(ctx, "service_start", "wait-ready", -1, -1, name);
    /* Waiting for readiness holds no workspace lock. */
    instance_unlock(&inst);
    json_t *res = NULL;
    r = instance_call(&inst, "service_start", a, (int)(timeout_s * 1000 + SVC_TEARDOWN_MS), &res, err);
    int lr = instance_relock(&inst, "the service started", err);
    if (r == 0 && lr < 0)
        json_decref(res);
    const char *st = r == 0 && lr == 0 ? json_get_str(res, "state", "") : "";
    if (token && (!strcmp(st, "running") || !strcmp(st, "starting"))) {
        ws_ports_confirm(&inst, token, json_get_int(res, "pid", 0));
    } else if (token) {
        /* Not started, or failed: its ports go with it. */
        ws_ports_unpublish(&inst, token, NULL);
        json_array_clear(ports);
    }
    if (r < 0 || lr < 0)
        return r < 0 ? r : lr;
    *result = service_public(inst.id, res);
    json_set(*result, "published_ports", json_incref(ports));
    json_decref(res);
    ws_event(&inst, "service_start",
             json_pack("{s:s, s:O}", "service_name", json_get_str(*result, "service_name", ""), "state",
                       json_object_get(*result, "state")));
    return ws_touch(&inst, err);
}

static int svc_list_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = open_running(ctx, args, &inst, err);
    if (r < 0)
        return r;
    json_auto_t *a = json_object();
    json_t *res = NULL;
    r = instance_call(&inst, "service_list", a, WS_CALL_TIMEOUT_MS, &res, err);
    if (r < 0)
        return r;
    json_t *services = list_public(inst.id, res, NULL), *e;
    json_auto_t *ports = ws_ports_list(&inst, NULL);
    size_t i;
    json_array_foreach(services, i, e)
        json_set(e, "published_ports", ports_of(e, ports));
    *result = json_pack("{s:s, s:O, s:O, s:o}", "workspace_id", inst.id, "count", json_object_get(res, "count"),
                        "running_count", json_object_get(res, "running_count"), "services", services);
    json_decref(res);
    return 0;
}

static int svc_status_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = open_running(ctx, args, &inst, err);
    if (r < 0)
        return r;
    json_auto_t *a = json_pack("{s:s}", "name", json_get_str(args, "service_name", ""));
    json_t *res = NULL;
    r = instance_call(&inst, "service_status", a, WS_CALL_TIMEOUT_MS, &res, err);
    if (r < 0)
        return r;
    *result = service_public(inst.id, res);
    json_decref(res);
    json_auto_t *ports = ws_ports_list(&inst, json_get_str(*result, "service_name", ""));
    json_set(*result, "published_ports", ports_of(*result, ports));
    return 0;
}

/* A log tail may start inside a value (the kept bytes were cut) and end
 * inside one (a running service has not written the rest yet): both edges
 * are treated as cut. */
static void logs_redact(const struct redact *red, json_t *o)
{
    if (!red)
        return;
    static const char *const keys[] = {"stdout", "stderr"};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        char cut[32];
        snprintf(cut, sizeof(cut), "%s_truncated", keys[i]);
        unsigned flags = REDACT_CUT_END | (json_get_bool(o, cut, false) ? REDACT_CUT_START : 0);
        json_t *v = json_object_get(o, keys[i]);
        if (!json_is_string(v))
            continue;
        size_t n;
        _cleanup_free_ char *t = redact_text(red, json_string_value(v), json_string_length(v), flags, &n);
        json_t *s = json_stringn(t, n);
        json_set(o, keys[i], s ? s : json_string(REDACT_MASK));
    }
}

static int svc_logs_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = open_running(ctx, args, &inst, err);
    if (r < 0)
        return r;
    bool all = json_get_bool(args, "all", false);
    long long lines = all ? 0 : json_get_int(args, "tail_lines", SVC_DEFAULT_TAIL_LINES);
    json_auto_t *a = json_pack("{s:s, s:I}", "name", json_get_str(args, "service_name", ""), "tail_lines",
                               (json_int_t)lines);
    json_t *res = NULL;
    r = instance_call(&inst, "service_logs", a, WS_CALL_TIMEOUT_MS, &res, err);
    if (r < 0)
        return r;
    json_t *o = json_deep_copy(res);
    json_decref(res);
    json_set(o, "workspace_id", json_string(inst.id));
    json_set(o, "tail_lines", all ? json_null() : json_integer(lines));
    logs_redact(ctx->redact, o);
    *result = o;
    return 0;
}

static int svc_stop_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = open_running(ctx, args, &inst, err);
    if (r < 0)
        return r;
    json_auto_t *a = json_pack("{s:s, s:s}", "name", json_get_str(args, "service_name", ""), "reason", "stopped");
    instance_unlock(&inst);
    json_t *res = NULL;
    r = instance_call(&inst, "service_stop", a, SVC_TEARDOWN_MS, &res, err);
    int lr = instance_relock(&inst, "the service stopped", err);
    if (r == 0 && lr < 0)
        json_decref(res);
    if (r < 0 || lr < 0)
        return r < 0 ? r : lr;
    json_t *e = json_array_get(json_object_get(res, "services"), 0);
    *result = e ? service_public(inst.id, e) : json_object();
    json_decref(res);
    ws_ports_unpublish(&inst, 0, json_get_str(args, "service_name", ""));
    json_set(*result, "published_ports", json_array());
    ws_event(&inst, "service_stop", json_pack("{s:s}", "service_name", json_get_str(*result, "service_name", "")));
    return ws_touch(&inst, err);
}

json_t *ws_services_stop_all(const struct instance *inst, const char *reason)
{
    if (!instance_monitor_alive(inst))
        return json_array();
    json_auto_t *a = json_pack("{s:b, s:s}", "all", 1, "reason", reason);
    json_t *res = NULL;
    pyro_error e = {0};
    /* Best effort: what the agent cannot stop ends with the sandbox. */
    if (instance_call(inst, "service_stop", a, SVC_TEARDOWN_MS, &res, &e) < 0) {
        log_debug("workspace %s: stopping services: %s", inst->id, e.message);
        return json_array();
    }
    json_t *arr = list_public(inst->id, res, reason);
    json_decref(res);
    ws_ports_unpublish(inst, 0, NULL);
    return arr;
}

void ws_service_counts(const struct instance *inst, json_t *o)
{
    json_int_t count = 0, running = 0;
    json_auto_t *a = json_object();
    json_t *res = NULL;
    pyro_error e = {0};
    if (instance_monitor_alive(inst) && instance_call(inst, "service_list", a, 10000, &res, &e) == 0) {
        count = json_integer_value(json_object_get(res, "count"));
        running = json_integer_value(json_object_get(res, "running_count"));
        json_decref(res);
    }
    json_set(o, "service_count", json_integer(count));
    json_set(o, "running_service_count", json_integer(running));
    json_set(o, "published_ports", ws_ports_list(inst, NULL));
}

#define PARAM_SERVICE_NAME                                                                    \
    PARAM_STR("service_name", "Service name: letters, digits, '.', '_' and '-', at most 64.", \
              .flags = PF_REQUIRED | PF_POSITIONAL, .max = 64)
#define SVC_EXPOSE (WS_FULL | WS_COLD)

static const struct contract_param svc_start_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_SERVICE_NAME,
    PARAM_STR("command", "Shell command (/bin/sh -c) that runs the service in the foreground.",
              .flags = PF_REQUIRED | PF_REST, .max = PYRO_COMMAND_MAX),
    PARAM_STR("cwd", "Working directory, inside /workspace.", .has_default = true, .def_str = WS_ROOT,
              .metavar = "PATH", .max = 4096),
    PARAM_STR("ready_file", "Ready once this path exists (relative: under /workspace).", .metavar = "PATH",
              .max = 4096),
    PARAM_STR("ready_tcp",
              "Ready once HOST:PORT accepts a TCP connection inside the workspace (an IP "
              "address or localhost).",
              .metavar = "HOST:PORT", .max = 4096),
    PARAM_STR("ready_http", "Ready once GET of this http:// URL inside the workspace answers 2xx or 3xx.",
              .metavar = "URL", .max = 4096),
    PARAM_STR("ready_command", "Ready once this shell command exits 0 (run in cwd).", .metavar = "CMD", .max = 4096),
    PARAM_INT("ready_timeout_seconds", "Give up (and stop the service) when not ready after this long.",
              .has_default = true, .def_int = 30, .min = 1, .max = 3600),
    PARAM_INT("ready_interval_ms", "Time between readiness probes.", .has_default = true,
              .def_int = PROTO_SERVICE_INTERVAL_MS, .min = PROTO_SERVICE_INTERVAL_MIN_MS,
              .max = PROTO_SERVICE_INTERVAL_MAX_MS),
    PARAM_PORTS(
        "published_ports",
        "TCP ports of the service to publish on the host's 127.0.0.1 (network_policy "
        "egress+published-ports only): {\"guest_port\": N, \"host_port\": N or null} or \"[HOST_PORT:]GUEST_PORT\"; "
        "the host port is chosen by the kernel unless given (a busy one is an error). Connections go to the "
        "guest's 127.0.0.1:GUEST_PORT; the ports close when the service ends.",
        .flag = "publish", .flags = PF_FULL_ONLY, .max = 16),
    WS_SECRET_ENV_PARAM,
    PARAM_END,
};
static const struct contract_param svc_name_params[] = {PARAM_WORKSPACE_ID, PARAM_SERVICE_NAME, PARAM_END};
static const struct contract_param svc_id_params[] = {PARAM_WORKSPACE_ID, PARAM_END};
static const struct contract_param svc_logs_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_SERVICE_NAME,
    PARAM_INT("tail_lines", "Return the last N lines of each stream.", .has_default = true,
              .def_int = SVC_DEFAULT_TAIL_LINES, .min = 1, .max = 1000000),
    PARAM_BOOL("all", "Return everything kept (at most 1 MiB per stream) instead of a tail."),
    PARAM_END,
};

#define SVC_RECORD_SCHEMA                                                                                            \
    "{\"type\":\"object\",\"required\":[\"workspace_id\",\"service_name\",\"command\",\"cwd\",\"state\","            \
    "\"started_at\",\"ready_at\",\"ended_at\",\"exit_code\",\"pid\",\"readiness\",\"stop_reason\"],"                 \
    "\"properties\":{\"workspace_id\":" WS_STR ",\"service_name\":" WS_STR ",\"command\":" WS_STR ",\"cwd\":" WS_STR \
    ",\"state\":{\"type\":\"string\",\"enum\":[\"starting\",\"running\",\"exited\",\"failed\",\"stopped\"]},"        \
    "\"started_at\":{\"type\":\"number\"},\"ready_at\":{\"type\":[\"number\",\"null\"]},"                            \
    "\"ended_at\":{\"type\":[\"number\",\"null\"]},\"exit_code\":{\"type\":[\"integer\",\"null\"]},"                 \
    "\"signal\":" WS_INT ",\"pid\":" WS_INT ",\"readiness\":{\"type\":[\"object\",\"null\"]},"                       \
    "\"stop_reason\":" WS_STR_OR_NULL ",\"ready_timeout_seconds\":" WS_INT ",\"ready_interval_ms\":" WS_INT          \
    ",\"logs_dir\":" WS_STR ",\"stdout_tail\":" WS_STR ",\"stderr_tail\":" WS_STR ",\"published_ports\":" WS_PORTS   \
    "}}"

const struct contract_op op_service_start = {
    .name = "service_start",
    .cli = "workspace service start",
    .title = "Start a workspace service",
    .summary = "Start a named background service and wait until it is ready.",
    .description = "Start a named long-running command in a started workspace and wait for its readiness probe "
                   "(at most one of ready_file, ready_tcp, ready_http, ready_command; none: ready once started), "
                   "polled every ready_interval_ms until ready_timeout_seconds. The agent owns the service: it "
                   "outlives this call. A service that exits or is not ready in time is stopped and reported as "
                   "'failed' with its exit code, stop_reason and the tail of its logs.",
    .params = svc_start_params,
    .output_schema = SVC_RECORD_SCHEMA,
    .annotations = PA_DESTRUCTIVE,
    .exposure = SVC_EXPOSE,
    .id_key = "service_name",
    .handler = svc_start_run,
};

const struct contract_op op_service_list = {
    .name = "service_list",
    .cli = "workspace service list",
    .title = "List workspace services",
    .summary = "List the services of a workspace.",
    .description = "List the services of a started workspace, running or ended, with their states.",
    .params = svc_id_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"count\",\"running_count\",\"services\"],"
                     "\"properties\":{\"workspace_id\":" WS_STR ",\"count\":" WS_INT ",\"running_count\":" WS_INT
                     ",\"services\":" WS_ARR_OBJ "}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = SVC_EXPOSE,
    .handler = svc_list_run,
};

const struct contract_op op_service_status = {
    .name = "service_status",
    .cli = "workspace service status",
    .title = "Workspace service status",
    .summary = "Show one service's record.",
    .description = "Return one service's record: state, times, exit code, pid, readiness and stop_reason.",
    .params = svc_name_params,
    .output_schema = SVC_RECORD_SCHEMA,
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = SVC_EXPOSE,
    .handler = svc_status_run,
};

const struct contract_op op_service_logs = {
    .name = "service_logs",
    .cli = "workspace service logs",
    .title = "Workspace service logs",
    .summary = "Show a service's stdout and stderr.",
    .description = "Return the last tail_lines lines (default 200) of a service's stdout and stderr, each "
                   "separately, or with all everything kept (at most 1 MiB per stream in a reply; the agent keeps "
                   "up to 8 MiB per stream outside /workspace).",
    .params = svc_logs_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"service_name\",\"stdout\",\"stderr\","
                     "\"tail_lines\",\"truncated\"],\"properties\":{\"workspace_id\":" WS_STR
                     ",\"service_name\":" WS_STR ",\"stdout\":" WS_STR ",\"stderr\":" WS_STR
                     ",\"tail_lines\":{\"type\":[\"integer\",\"null\"]},\"truncated\":" WS_BOOL
                     ",\"stdout_truncated\":" WS_BOOL ",\"stderr_truncated\":" WS_BOOL "}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = SVC_EXPOSE,
    .handler = svc_logs_run,
};

const struct contract_op op_service_stop = {
    .name = "service_stop",
    .cli = "workspace service stop",
    .title = "Stop a workspace service",
    .summary = "Stop a service: TERM to its whole process tree, KILL after 3 s.",
    .description = "Stop a service: SIGTERM to every process it started (also those that left its session or "
                   "process group), SIGKILL after a 3 s grace period; answers once they are gone. Stopping an "
                   "ended service returns its record unchanged.",
    .params = svc_name_params,
    .output_schema = SVC_RECORD_SCHEMA,
    .annotations = PA_DESTRUCTIVE | PA_IDEMPOTENT,
    .exposure = SVC_EXPOSE,
    .handler = svc_stop_run,
};
