/* Tasks (docs/mcp.md "Tasks"): a task-augmented tools/call of a long tool
 * (workspace_exec, vm_run) is answered at once with a CreateTaskResult;
 * the call runs on in its worker and the client polls it with tasks/get,
 * fetches the outcome with tasks/result (which waits while the task
 * works) and may stop it with tasks/cancel, which kills the worker and so
 * the guest process (the same path as notifications/cancelled).
 *
 * A task lives in the server, not in a connection: the call reports to
 * an exchange of the task's own (below) instead of a transport's, so a
 * dropped HTTP connection changes nothing. It belongs to the session that
 * created it: another session gets "task not found" for its id, which is
 * 160 random bits. Caps: MCP_TASKS_RUNNING_MAX working and
 * MCP_TASKS_KEPT_MAX kept per session; a finished task is dropped ttl ms
 * after it ended (the client's ttl clamped to MCP_TASK_TTL_MIN_MS ..
 * MCP_TASK_TTL_MAX_MS). Ending the session cancels and drops its tasks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/id.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "mcp/mcp.h"

enum task_status { T_WORKING, T_COMPLETED, T_FAILED, T_CANCELLED };
static const char *const status_names[] = {"working", "completed", "failed", "cancelled"};

struct task_waiter {
    struct mcp_exchange *x;
    json_t *id;
};

struct mcp_task {
    struct mcp_exchange x; /* what the call reports to; first member */
    struct mcp_session *session;
    struct mcp_call *call; /* while it runs */
    char id[33];
    char tool[64];
    enum task_status status;
    char *status_message;
    int64_t created_wall, updated_wall, ended_mono;
    int64_t ttl_ms;
    json_t *result; /* CallToolResult, once ended */
    json_t *error;  /* or the JSON-RPC error object */
    struct task_waiter waiters[MCP_TASK_WAITERS_MAX];
    int nwaiters;
    struct mcp_task *next;
};

static struct mcp_task *all_tasks;

/* The Task object: 2025-11-25's names (ttl, pollInterval) or the tasks
 * extension's (ttlMs, pollIntervalMs) for a modern request. */
static json_t *task_json(const struct mcp_task *t, bool modern)
{
    char created[PYRO_TIME_ISO_LEN], updated[PYRO_TIME_ISO_LEN];
    time_iso(created, t->created_wall);
    time_iso(updated, t->updated_wall);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:i}", "taskId", t->id, "status", status_names[t->status],
                          "createdAt", created, "lastUpdatedAt", updated, modern ? "ttlMs" : "ttl",
                          (json_int_t)t->ttl_ms, modern ? "pollIntervalMs" : "pollInterval", MCP_TASK_POLL_MS);
    if (t->status_message)
        json_set(j, "statusMessage", json_string(t->status_message));
    return j;
}

/* The extension's tasks/get answer: the task with its result (completed)
 * or its JSON-RPC error (failed). */
static json_t *task_detailed(const struct mcp_task *t)
{
    json_t *j = task_json(t, true);
    if (t->status == T_COMPLETED && t->result)
        json_set(j, "result", json_incref(t->result));
    else if (t->status == T_FAILED && t->error)
        json_set(j, "error", json_incref(t->error));
    return j;
}

static json_t *related(const struct mcp_task *t)
{
    return json_pack("{s:{s:s}}", "io.modelcontextprotocol/related-task", "taskId", t->id);
}

static void task_set_message(struct mcp_task *t, const char *m)
{
    free(t->status_message);
    t->status_message = xstrdup(m);
    t->updated_wall = time_wall_ms();
}

/* What tasks/result answers for an ended task, for request id. */
static json_t *task_outcome(const struct mcp_task *t, const json_t *id)
{
    if (t->result) {
        json_t *r = json_deep_copy(t->result);
        json_set(r, "_meta", related(t));
        return mcp_result_response(id, r);
    }
    if (t->error)
        return mcp_error_response(id, (int)json_get_int(t->error, "code", -32603),
                                  json_get_str(t->error, "message", "the call failed"),
                                  json_incref(json_object_get(t->error, "data")));
    char m[120];
    snprintf(m, sizeof(m), "task %s was cancelled: it has no result", t->id);
    return mcp_error_response(id, -32602, m, NULL);
}

static void task_notify_status(struct mcp_task *t)
{
    struct mcp_server *srv = t->session->srv;
    if (!srv->session_notify || t->x.modern) /* modern: only through subscriptions/listen, which pyro lacks */
        return;
    json_auto_t *n = json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", "notifications/tasks/status", "params",
                               task_json(t, false));
    srv->session_notify(t->session, n);
}

/* The task reached a terminal status: answer whoever waits in tasks/result. */
static void task_end(struct mcp_task *t, enum task_status st, const char *message)
{
    t->status = st;
    t->ended_mono = time_mono_ms();
    t->call = NULL;
    task_set_message(t, message);
    for (int i = 0; i < t->nwaiters; i++) {
        struct task_waiter *w = &t->waiters[i];
        mcp_exchange_reply(w->x, task_outcome(t, w->id));
        mcp_exchange_unref(w->x);
        json_decref(w->id);
    }
    t->nwaiters = 0;
    task_notify_status(t);
}

/* The call's messages: notifications while it runs, then its response
 * (NULL when it was cancelled). */
static void task_emit(struct mcp_exchange *x, json_t *msg, bool final)
{
    struct mcp_task *t = (struct mcp_task *)x;
    if (!final) {
        json_t *params = json_object_get(msg, "params");
        if (!strcmp(json_get_str(msg, "method", ""), "notifications/progress") && t->status == T_WORKING)
            task_set_message(t, json_get_str(params, "message", "working"));
        /* Modern requests' notifications flow on their own response,
         * long answered here: only a legacy session gets them, on its
         * own channel (stdout; the HTTP GET stream). */
        if (!t->x.modern && t->session->srv->session_notify) {
            /* Progress, logs, and roots/list (roots.c) of a legacy task. */
            json_auto_t *copy = json_deep_copy(msg);
            if (!json_is_object(json_object_get(copy, "params")))
                json_set(copy, "params", json_object());
            json_set(json_object_get(copy, "params"), "_meta", related(t));
            t->session->srv->session_notify(t->session, copy);
        }
        return;
    }
    if (t->status != T_WORKING) /* cancelled already */
        return;
    if (!msg) {
        task_end(t, T_CANCELLED, "the call was cancelled");
        return;
    }
    json_t *err = json_object_get(msg, "error");
    if (err) {
        t->error = json_incref(err);
        task_end(t, T_FAILED, json_get_str(err, "message", "the call failed"));
        return;
    }
    t->result = json_incref(json_object_get(msg, "result"));
    /* 2025-11-25: an isError result fails the task; the extension keeps
     * "failed" for JSON-RPC errors and completes it. */
    bool is_error = json_is_true(json_object_get(t->result, "isError")) && !t->x.modern;
    char m[200];
    snprintf(m, sizeof(m), "%s %s", t->tool, is_error ? "failed (see tasks/result)" : "completed");
    task_end(t, is_error ? T_FAILED : T_COMPLETED, m);
}

static void task_release(struct mcp_exchange *x)
{
    struct mcp_task *t = (struct mcp_task *)x;
    json_decref(t->result);
    json_decref(t->error);
    free(t->status_message);
    free(t);
}

static const struct mcp_exchange_ops task_exchange_ops = {.emit = task_emit, .release = task_release};

/* Unlinks and drops t; a running call is cancelled first. */
static void task_drop(struct mcp_task *t)
{
    if (t->call) {
        t->status = T_CANCELLED;
        mcp_call_cancel(t->call);
    }
    t->call = NULL;
    for (int i = 0; i < t->nwaiters; i++) {
        mcp_exchange_drop(t->waiters[i].x);
        mcp_exchange_unref(t->waiters[i].x);
        json_decref(t->waiters[i].id);
    }
    t->nwaiters = 0;
    for (struct mcp_task **p = &all_tasks; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    mcp_exchange_unref(&t->x);
}

/* Drops ended tasks whose ttl has passed. */
static void tasks_sweep(void)
{
    int64_t now = time_mono_ms();
    for (struct mcp_task *t = all_tasks, *next; t; t = next) {
        next = t->next;
        if (t->status != T_WORKING && now - t->ended_mono >= t->ttl_ms)
            task_drop(t);
    }
}

static struct mcp_task *task_find(struct mcp_session *s, const json_t *params)
{
    const char *id = json_get_str(params, "taskId", NULL);
    for (struct mcp_task *t = all_tasks; t && id; t = t->next)
        if (t->session == s && !strcmp(t->id, id))
            return t;
    return NULL;
}

static struct mcp_exchange *tasks_create(struct mcp_session *s, struct mcp_exchange *rx, const json_t *id,
                                         const char *tool, const json_t *task_params, json_t **resp)
{
    tasks_sweep();
    int running = 0, kept = 0;
    struct mcp_task *oldest_ended = NULL;
    for (struct mcp_task *t = all_tasks; t; t = t->next) {
        if (t->session != s)
            continue;
        kept++;
        if (t->status == T_WORKING)
            running++;
        else if (!oldest_ended || t->ended_mono < oldest_ended->ended_mono)
            oldest_ended = t;
    }
    if (running >= MCP_TASKS_RUNNING_MAX) {
        char m[200];
        snprintf(m, sizeof(m),
                 "%d tasks of this session are working (the limit, MCP_TASKS_RUNNING_MAX); wait for one to end "
                 "or cancel one",
                 running);
        *resp = mcp_result_response(id, mcp_tool_error("limit_exceeded", m));
        return NULL;
    }
    if (kept >= MCP_TASKS_KEPT_MAX && oldest_ended)
        task_drop(oldest_ended); /* the oldest result makes room */

    struct mcp_task *t = xcalloc(1, sizeof(*t));
    t->x.ops = &task_exchange_ops;
    t->x.session = s;
    t->x.refs = 1;    /* the task's own */
    t->x.pending = 1; /* the call's answer */
    t->x.modern = rx->modern;
    t->x.log_level = rx->log_level;
    t->session = s;
    id_random(t->id, sizeof(t->id));
    snprintf(t->tool, sizeof(t->tool), "%s", tool);
    t->status = T_WORKING;
    t->created_wall = t->updated_wall = time_wall_ms();
    long long ttl = json_get_int(task_params, "ttl", MCP_TASK_TTL_DEFAULT_MS);
    t->ttl_ms = ttl < MCP_TASK_TTL_MIN_MS ? MCP_TASK_TTL_MIN_MS : ttl > MCP_TASK_TTL_MAX_MS ? MCP_TASK_TTL_MAX_MS : ttl;
    task_set_message(t, "started");
    t->next = all_tasks;
    all_tasks = t;
    char imm[200];
    snprintf(imm, sizeof(imm), "%s runs as task %s; poll it with tasks/get", tool, t->id);
    json_t *meta = json_pack("{s:s}", "io.modelcontextprotocol/model-immediate-response", imm);
    json_t *created;
    if (t->x.modern) { /* the extension's CreateTaskResult: the task itself */
        created = task_json(t, true);
        json_set(created, "resultType", json_string("task"));
        json_set(created, "_meta", meta);
    } else {
        created = json_pack("{s:o, s:o}", "task", task_json(t, false), "_meta", meta);
    }
    *resp = mcp_result_response(id, created);
    return &t->x;
}

static void tasks_started(struct mcp_exchange *x, struct mcp_call *c)
{
    struct mcp_task *t = (struct mcp_task *)x;
    if (t->status == T_WORKING)
        t->call = c;
}

static void tasks_abort(struct mcp_exchange *x)
{
    task_drop((struct mcp_task *)x);
}

static json_t *not_found(const json_t *id, const json_t *params)
{
    const char *tid = json_get_str(params, "taskId", NULL);
    return mcp_error_response(id, -32602,
                              tid ? "Failed to retrieve task: Task not found (unknown, expired, or another "
                                    "session's)"
                                  : "params.taskId (a string) is required",
                              NULL);
}

/* The tasks extension (2026-07-28): tasks/get carries the outcome,
 * tasks/cancel and tasks/update answer with an empty result; there is no
 * tasks/result or tasks/list. */
static json_t *modern_request(struct mcp_session *s, const json_t *id, const char *method, const json_t *params)
{
    bool known = !strcmp(method, "tasks/get") || !strcmp(method, "tasks/cancel") || !strcmp(method, "tasks/update");
    if (!known) {
        char m[160];
        snprintf(m, sizeof(m), "Method not found: %s (not part of the tasks extension)", method);
        return mcp_error_response(id, -32601, m, NULL);
    }
    struct mcp_task *t = task_find(s, params);
    if (!t)
        return not_found(id, params);
    if (!strcmp(method, "tasks/get"))
        return mcp_result_response(id, task_detailed(t));
    if (!strcmp(method, "tasks/cancel") && t->status == T_WORKING) {
        struct mcp_call *c = t->call;
        task_end(t, T_CANCELLED, "The task was cancelled by request; its process was killed.");
        if (c)
            mcp_call_cancel(c);
    }
    /* tasks/update: pyro's tasks never ask for input; nothing to apply. */
    return mcp_result_response(id, json_object());
}

static json_t *tasks_request(struct mcp_session *s, struct mcp_exchange *x, const json_t *id, const char *method,
                             const json_t *params, bool *async)
{
    tasks_sweep();
    if (x->modern)
        return modern_request(s, id, method, params);
    if (!strcmp(method, "tasks/list")) {
        const json_t *cur = json_object_get(params, "cursor");
        if (cur && !json_is_null(cur))
            return mcp_error_response(id, -32602, "tasks/list: invalid cursor (the list has one page)", NULL);
        json_t *list = json_array();
        for (struct mcp_task *t = all_tasks; t; t = t->next)
            if (t->session == s)
                json_array_append_new(list, task_json(t, false));
        return mcp_result_response(id, json_pack("{s:o}", "tasks", list));
    }
    struct mcp_task *t = task_find(s, params);
    if (!strcmp(method, "tasks/get"))
        return t ? mcp_result_response(id, task_json(t, false)) : not_found(id, params);
    if (!strcmp(method, "tasks/cancel")) {
        if (!t)
            return not_found(id, params);
        if (t->status != T_WORKING)
            return mcp_error_response(id, -32602, "Cannot cancel task: it is already in a terminal status", NULL);
        struct mcp_call *c = t->call;
        task_end(t, T_CANCELLED, "The task was cancelled by request; its process was killed.");
        if (c)
            mcp_call_cancel(c); /* kills the worker, so the guest command */
        return mcp_result_response(id, task_json(t, false));
    }
    if (!strcmp(method, "tasks/result")) {
        if (!t)
            return not_found(id, params);
        if (t->status != T_WORKING)
            return task_outcome(t, id);
        if (t->nwaiters >= MCP_TASK_WAITERS_MAX)
            return mcp_error_response(id, -32603, "too many tasks/result requests wait for this task; use tasks/get",
                                      NULL);
        t->waiters[t->nwaiters++] = (struct task_waiter){.x = x, .id = json_deep_copy(id)};
        x->refs++;
        *async = true;
        return NULL;
    }
    char m[120];
    snprintf(m, sizeof(m), "Method not found: %s", method);
    return mcp_error_response(id, -32601, m, NULL);
}

static void tasks_session_free(struct mcp_session *s)
{
    for (struct mcp_task *t = all_tasks, *next; t; t = next) {
        next = t->next;
        if (t->session == s)
            task_drop(t);
    }
}

const struct mcp_tasks_ops mcp_tasks_ops = {
    .create = tasks_create,
    .started = tasks_started,
    .abort = tasks_abort,
    .request = tasks_request,
    .session_free = tasks_session_free,
};
