/* JSON-RPC dispatch and the MCP lifecycle, shared by both transports, and
 * the tools/call requests in flight: each runs in a worker (worker.c) whose
 * events arrive through the callbacks below. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "mcp/mcp.h"

enum { JR_PARSE = -32700, JR_INVALID = -32600, JR_NO_METHOD = -32601, JR_PARAMS = -32602, JR_INTERNAL = -32603 };

char *mcp_redact(const char *text)
{
    /* Secret values are redacted in the worker that opened the workspace
     * (ctx_redact_outcome, base/log.c); this is the one place every log
     * text of the server passes through on its way out. */
    return xstrdup(text ? text : "");
}

int mcp_server_init(struct mcp_server *srv, struct pyro_ctx *ctx, enum contract_surface surface)
{
    memset(srv, 0, sizeof(*srv));
    srv->ctx = ctx;
    srv->surface = surface;
    srv->surface_name = contract_surfaces[surface].name;
    return 0;
}

struct mcp_session *mcp_session_new(struct mcp_server *srv)
{
    struct mcp_session *s = xcalloc(1, sizeof(*s));
    s->srv = srv;
    s->log_level = mcp_log_level_find("warning");
    s->last_used_ms = time_mono_ms();
    s->next = srv->sessions;
    srv->sessions = s;
    return s;
}

void mcp_session_free(struct mcp_session *s)
{
    if (!s)
        return;
    while (s->calls)
        mcp_call_cancel(s->calls);
    mcp_tasks_ops.session_free(s);
    mcp_roots_ops.session_free(s);
    for (struct mcp_session **p = &s->srv->sessions; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    free(s);
}

void mcp_server_fini(struct mcp_server *srv)
{
    while (srv->sessions)
        mcp_session_free(srv->sessions);
    free(srv->project_source);
    free(srv->project_origin);
    free(srv->instructions);
}

/* ---- exchanges -------------------------------------------------------- */

void mcp_exchange_unref(struct mcp_exchange *x)
{
    if (--x->refs > 0)
        return;
    json_decref(x->responses);
    x->ops->release(x);
}

static void exchange_maybe_final(struct mcp_exchange *x)
{
    if (x->pending > 0 || x->sent_final)
        return;
    x->sent_final = true;
    json_t *msg = NULL;
    if (x->batch && json_array_size(x->responses))
        msg = json_incref(x->responses);
    x->ops->emit(x, msg, true);
    json_decref(msg);
}

void mcp_exchange_reply(struct mcp_exchange *x, json_t *resp)
{
    x->pending--;
    if (x->batch) {
        json_array_append_new(x->responses, resp);
        exchange_maybe_final(x);
        return;
    }
    if (!x->sent_final) {
        x->sent_final = true;
        x->ops->emit(x, resp, true);
    }
    json_decref(resp);
}

void mcp_exchange_drop(struct mcp_exchange *x)
{
    x->pending--;
    exchange_maybe_final(x);
}

void mcp_exchange_notify(struct mcp_exchange *x, json_t *msg)
{
    if (!x->sent_final) {
        x->notified = true;
        x->ops->emit(x, msg, false);
    }
    json_decref(msg);
}

void mcp_session_log(struct mcp_session *s, struct mcp_exchange *x, int level, const char *logger, const char *text)
{
    if (!s || level < (x && x->modern ? x->log_level : s->log_level))
        return;
    _cleanup_free_ char *clean = mcp_redact(text);
    json_t *n = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "jsonrpc", "2.0", "method", "notifications/message",
                          "params", "level", mcp_log_levels[level], "logger", logger, "data", clean);
    if (x && !x->sent_final)
        mcp_exchange_notify(x, n);
    else if (s->srv->session_notify) {
        s->srv->session_notify(s, n);
        json_decref(n);
    } else
        json_decref(n);
}

/* ---- calls in flight ------------------------------------------------- */

static int log_level_from_lib(const char *name)
{
    if (!strcmp(name, "error"))
        return mcp_log_level_find("error");
    if (!strcmp(name, "warn"))
        return mcp_log_level_find("warning");
    if (!strcmp(name, "info"))
        return mcp_log_level_find("info");
    return mcp_log_level_find("debug");
}

static void call_on_progress(void *data, const json_t *p)
{
    struct mcp_call *c = data;
    if (!c->progress_token)
        return;
    c->progress += 1;
    const char *phase = json_get_str(p, "phase", "");
    const char *msg = json_get_str(p, "message", "");
    long long cur = json_get_int(p, "current", -1), tot = json_get_int(p, "total", -1);
    _cleanup_free_ char *text = NULL;
    if (cur >= 0 && tot > 0)
        text = xasprintf("%s %s: %s (%lld/%lld)", json_get_str(p, "operation", ""), phase, msg, cur, tot);
    else
        text = xasprintf("%s %s%s%s", json_get_str(p, "operation", ""), phase, msg[0] ? ": " : "", msg);
    json_t *n = json_pack("{s:s, s:s, s:{s:O, s:f, s:s}}", "jsonrpc", "2.0", "method", "notifications/progress",
                          "params", "progressToken", c->progress_token, "progress", c->progress, "message", text);
    mcp_exchange_notify(c->x, n);
}

static void call_on_log(void *data, const char *level, const char *message)
{
    struct mcp_call *c = data;
    mcp_session_log(c->session, c->x, log_level_from_lib(level), "pyro", message);
}

static void call_free(struct mcp_call *c)
{
    mcp_admit_release(c);
    json_decref(c->id);
    json_decref(c->progress_token);
    free(c);
}

static void call_unlink(struct mcp_call *c)
{
    for (struct mcp_call **p = &c->session->calls; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return;
        }
}

/* The worker answered (or died): reply, unlink, free. */
static void call_on_done(void *data, const json_t *outcome)
{
    struct mcp_call *c = data;
    struct mcp_exchange *x = c->x;
    c->worker = NULL; /* freed by worker.c when this returns */
    call_unlink(c);
    json_t *resp = mcp_result_response(c->id, mcp_tool_result(outcome));
    if (x->modern)
        mcp_era_stamp(resp);
    char m[200];
    snprintf(m, sizeof(m), "tools/call %s finished", c->op->name);
    mcp_session_log(c->session, x, 0, "pyro.mcp", m);
    mcp_exchange_reply(x, resp);
    struct mcp_server *srv = c->session->srv;
    call_free(c);
    mcp_exchange_unref(x);
    /* A worker is free: start the oldest queued call. */
    mcp_admit_pump(srv, mcp_roots_ops.call_start, mcp_call_fail);
}

static const struct mcp_worker_events call_events = {
    .progress = call_on_progress,
    .log = call_on_log,
    .done = call_on_done,
};

int mcp_call_start(struct mcp_call *c, json_t *args, pyro_error *err)
{
    int r = mcp_admit(c->session->srv, c, args, err);
    if (r != 0)
        return r < 0 ? r : 0; /* refused, or queued: call_on_done starts it later */
    r = mcp_worker_start(c->session->srv, c->op, args, &call_events, c, &c->worker, err);
    if (r < 0)
        return r;
    char m[200];
    snprintf(m, sizeof(m), "tools/call %s started (worker %d)", c->op->name, (int)mcp_worker_pid(c->worker));
    mcp_session_log(c->session, c->x, 0, "pyro.mcp", m);
    return 0;
}

void mcp_call_fail(struct mcp_call *c, const pyro_error *err)
{
    json_auto_t *outcome = json_pack("{s:{s:s, s:s}}", "error", "code", pyro_error_name(err->code), "message",
                                     err->message);
    call_on_done(c, outcome);
}

void mcp_call_cancel(struct mcp_call *c)
{
    struct mcp_exchange *x = c->x;
    if (c->worker) /* else it waits for the client's roots (roots.c) or a worker (admit.c) */
        mcp_worker_cancel(c->worker);
    call_unlink(c);
    mcp_exchange_drop(x);
    struct mcp_server *srv = c->session->srv;
    call_free(c);
    mcp_exchange_unref(x);
    mcp_admit_pump(srv, mcp_roots_ops.call_start, mcp_call_fail);
}

/* ---- methods ---------------------------------------------------------- */

static bool batches_allowed(const struct mcp_session *s)
{
    return !s->initialized || !strcmp(s->version, "2025-03-26");
}

static json_t *do_initialize(struct mcp_session *s, const json_t *id, const json_t *params)
{
    const char *want = json_get_str(params, "protocolVersion", NULL);
    if (!json_is_object(params) || !want)
        return mcp_error_response(id, JR_PARAMS, "initialize: params.protocolVersion (a string) is required", NULL);
    /* Legacy revisions we speak, newest first; 2025-03-26 is the last
     * with batches. */
    const char *use = mcp_legacy_versions[0];
    for (int i = 0; mcp_legacy_versions[i]; i++)
        if (!strcmp(mcp_legacy_versions[i], want))
            use = mcp_legacy_versions[i];
    snprintf(s->version, sizeof(s->version), "%s", use);
    s->initialized = true;
    mcp_roots_ops.initialize(s, params);
    struct mcp_server *srv = s->srv;
    json_t *res = json_pack("{s:s, s:o, s:o}", "protocolVersion", use, "capabilities", mcp_server_capabilities(false),
                            "serverInfo", mcp_server_info());
    if (srv->instructions)
        json_set(res, "instructions", json_string(srv->instructions));
    return mcp_result_response(id, res);
}

static json_t *do_set_level(struct mcp_session *s, const json_t *id, const json_t *params)
{
    const char *lv = json_get_str(params, "level", NULL);
    int i = mcp_log_level_find(lv);
    if (i < 0)
        return mcp_error_response(
            id, JR_PARAMS,
            "logging/setLevel: level must be one of debug, info, notice, warning, error, critical, alert, "
            "emergency",
            NULL);
    s->log_level = i;
    return mcp_result_response(id, json_object());
}

static struct mcp_call *call_find(struct mcp_session *s, const json_t *id)
{
    for (struct mcp_call *c = s->calls; c; c = c->next)
        if (json_equal(c->id, (json_t *)id))
            return c;
    return NULL;
}

/* tools/call: protocol faults are JSON-RPC errors; bad arguments and
 * runtime failures are isError results (SEP-1303). Returns NULL when a
 * worker took the request. */
static json_t *do_call(struct mcp_session *s, struct mcp_exchange *x, const json_t *id, const json_t *params,
                       bool *async)
{
    struct mcp_server *srv = s->srv;
    const char *name = json_get_str(params, "name", NULL);
    if (!name)
        return mcp_error_response(id, JR_PARAMS, "tools/call: params.name (a string) is required", NULL);
    const struct contract_op *op = contract_op_find(name);
    if (!op || !contract_op_exposed(op, srv->surface)) {
        char m[300];
        snprintf(m, sizeof(m), "Unknown tool: %s", name);
        return mcp_error_response(id, JR_PARAMS, m, NULL);
    }
    if (call_find(s, id))
        return mcp_error_response(id, JR_INVALID, "request id is already in use by a call in flight", NULL);
    const json_t *args = json_object_get(params, "arguments");
    pyro_error err = {0};
    json_auto_t *valid = NULL;
    if (contract_args_validate(op, json_is_null(args) ? NULL : args, srv->surface, &valid, &err) < 0)
        return mcp_result_response(id, mcp_tool_error(pyro_error_name(err.code), err.message));

    /* A task-augmented call reports to its task, which answers now. A
     * modern client that declared the tasks extension gets a task for
     * every tool that may run as one (the server decides, not params). */
    const json_t *task = json_object_get(params, "task");
    struct mcp_exchange *cx = x;
    json_t *created = NULL;
    if (x->modern && mcp_era_client_has_tasks(params) && mcp_tool_task_support(op)) {
        if (!(cx = mcp_tasks_ops.create(s, x, id, name, NULL, &created)))
            return created;
    } else if (!x->modern && task && !json_is_null(task)) {
        if (!json_is_object(task))
            return mcp_error_response(id, JR_PARAMS, "tools/call: params.task must be an object", NULL);
        if (!mcp_tool_task_support(op)) {
            char m[300];
            snprintf(m, sizeof(m), "tools/call: %s does not run as a task (execution.taskSupport is forbidden)", name);
            return mcp_error_response(id, JR_NO_METHOD, m, NULL);
        }
        if (!(cx = mcp_tasks_ops.create(s, x, id, name, task, &created)))
            return created;
    }

    struct mcp_call *c = xcalloc(1, sizeof(*c));
    c->session = s;
    c->x = cx;
    c->id = json_deep_copy(id);
    c->op = op;
    c->task = created != NULL;
    json_t *tok = json_object_get(json_object_get(params, "_meta"), "progressToken");
    if (json_is_string(tok) || json_is_integer(tok))
        c->progress_token = json_copy(tok);
    if (mcp_roots_ops.call_start(srv, c, valid, &err) < 0) {
        call_free(c);
        if (created) {
            json_decref(created);
            mcp_tasks_ops.abort(cx);
        }
        return mcp_result_response(id, mcp_tool_error(pyro_error_name(err.code), err.message));
    }
    cx->refs++;
    c->next = s->calls;
    s->calls = c;
    if (created) {
        mcp_tasks_ops.started(cx, c);
        return created;
    }
    *async = true;
    return NULL;
}

static void do_cancelled(struct mcp_session *s, const json_t *params)
{
    const json_t *rid = json_object_get(params, "requestId");
    struct mcp_call *c = rid ? call_find(s, rid) : NULL;
    if (!c || c->task)
        return; /* unknown or finished (a task's request was answered): ignored, as the spec allows */
    char m[200];
    snprintf(m, sizeof(m), "tools/call %s cancelled by the client", c->op->name);
    mcp_session_log(s, NULL, 1, "pyro.mcp", m);
    mcp_call_cancel(c);
}

static bool valid_id(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id);
}

/* A 2026-07-28 request: stateless, its version and capabilities in
 * params._meta (era.c); what the revision removed (initialize, ping,
 * logging/setLevel) is an unknown method. */
static json_t *handle_modern(struct mcp_session *s, struct mcp_exchange *x, const json_t *id, const char *name,
                             const json_t *params, bool *async)
{
    if (x->batch)
        return mcp_error_response(id, JR_INVALID, "batches are not part of protocol revision " MCP_MODERN_VERSION,
                                  NULL);
    json_t *resp = mcp_era_check(id, params);
    if (resp)
        return resp;
    x->modern = true;
    x->log_level = mcp_era_log_level(params);
    if (!strcmp(name, "server/discover")) {
        resp = mcp_result_response(id, mcp_era_discover(s->srv));
    } else if (!strcmp(name, "tools/list")) {
        if (json_object_get(params, "cursor") && !json_is_null(json_object_get(params, "cursor")))
            return mcp_error_response(id, JR_PARAMS, "tools/list: invalid cursor (the list has one page)", NULL);
        json_t *list = mcp_tools_list(s->srv);
        mcp_era_cacheable(list);
        resp = mcp_result_response(id, list);
    } else if (!strcmp(name, "tools/call")) {
        resp = do_call(s, x, id, params, async);
    } else if (!strncmp(name, "tasks/", 6)) {
        resp = mcp_tasks_ops.request(s, x, id, name, params, async);
    } else {
        char msg[300];
        snprintf(msg, sizeof(msg), "Method not found: %s (in protocol revision %s)", name, MCP_MODERN_VERSION);
        return mcp_error_response(id, JR_NO_METHOD, msg, NULL);
    }
    if (resp)
        mcp_era_stamp(resp);
    return resp;
}

/* One message of an exchange; returns the response or NULL. */
static json_t *handle_one(struct mcp_session *s, struct mcp_exchange *x, const json_t *m, bool *async)
{
    if (!json_is_object(m))
        return mcp_error_response(NULL, JR_INVALID, "a JSON-RPC message must be an object", NULL);
    const json_t *id = json_object_get(m, "id");
    const json_t *method = json_object_get(m, "method");
    const json_t *params = json_object_get(m, "params");
    bool is_request = id != NULL;
    if (!json_is_string(method)) {
        if (is_request && (json_object_get(m, "result") || json_object_get(m, "error"))) {
            mcp_roots_ops.response(s, m); /* roots/list is our only request */
            return NULL;
        }
        return mcp_error_response(valid_id(id) ? id : NULL, JR_INVALID, "method must be a string", NULL);
    }
    if (strcmp(json_get_str(m, "jsonrpc", ""), "2.0") != 0)
        return is_request ? mcp_error_response(valid_id(id) ? id : NULL, JR_INVALID, "jsonrpc must be \"2.0\"", NULL)
                          : NULL;
    if (is_request && !valid_id(id))
        return mcp_error_response(NULL, JR_INVALID, "id must be a string or an integer", NULL);
    if (params && !json_is_object(params))
        return is_request ? mcp_error_response(id, JR_PARAMS, "params must be an object", NULL) : NULL;
    const char *name = json_string_value(method);

    if (!is_request) {
        if (!strcmp(name, "notifications/cancelled"))
            do_cancelled(s, params);
        else if (!strcmp(name, "notifications/roots/list_changed"))
            mcp_roots_ops.changed(s);
        return NULL; /* initialized, ...: nothing to do */
    }
    if (mcp_era_version(params))
        return handle_modern(s, x, id, name, params, async);
    if (!strcmp(name, "initialize"))
        return do_initialize(s, id, params);
    if (!strcmp(name, "ping"))
        return mcp_result_response(id, json_object());
    if (!strcmp(name, "tools/list")) {
        if (json_object_get(params, "cursor") && !json_is_null(json_object_get(params, "cursor")))
            return mcp_error_response(id, JR_PARAMS, "tools/list: invalid cursor (the list has one page)", NULL);
        return mcp_result_response(id, mcp_tools_list(s->srv));
    }
    if (!strcmp(name, "tools/call"))
        return do_call(s, x, id, params, async);
    if (!strcmp(name, "logging/setLevel"))
        return do_set_level(s, id, params);
    if (!strncmp(name, "tasks/", 6))
        return mcp_tasks_ops.request(s, x, id, name, params, async);
    char msg[300];
    snprintf(msg, sizeof(msg), "Method not found: %s", name);
    return mcp_error_response(id, JR_NO_METHOD, msg, NULL);
}

static void handle_value(struct mcp_session *s, struct mcp_exchange *x, const json_t *m)
{
    bool async = false;
    json_t *resp = handle_one(s, x, m, &async);
    if (async || resp)
        x->pending++; /* a worker answers async ones later */
    if (resp)
        mcp_exchange_reply(x, resp);
}

void mcp_server_handle(struct mcp_server *srv, struct mcp_exchange *x, const char *text, size_t len)
{
    struct mcp_session *s = x->session;
    s->last_used_ms = time_mono_ms();
    json_auto_t *v = NULL;
    json_error_t jerr;
    if (len > MCP_MESSAGE_MAX) {
        x->pending++;
        mcp_exchange_reply(x, mcp_error_response(NULL, JR_PARSE, "message too large", NULL));
    } else if (!(v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr))) {
        char m[300];
        snprintf(m, sizeof(m), "Parse error: %s (at byte %d)", jerr.text, jerr.position);
        x->pending++;
        mcp_exchange_reply(x, mcp_error_response(NULL, JR_PARSE, m, NULL));
    } else if (json_is_array(v)) {
        if (!batches_allowed(s) || json_array_size(v) == 0) {
            x->pending++;
            mcp_exchange_reply(x, mcp_error_response(NULL, JR_INVALID,
                                                     json_array_size(v) ? "batches are not supported in "
                                                                          "protocol revisions after 2025-03-26"
                                                                        : "empty batch",
                                                     NULL));
        } else {
            x->batch = true;
            x->responses = json_array();
            /* Hold the exchange open until every member is handled. */
            x->pending++;
            size_t i;
            json_t *m;
            json_array_foreach(v, i, m)
                handle_value(s, x, m);
            mcp_exchange_drop(x);
        }
    } else {
        handle_value(s, x, v);
    }
    exchange_maybe_final(x);
    (void)srv;
}
