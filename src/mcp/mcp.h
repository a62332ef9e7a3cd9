/* The MCP server (docs/mcp.md): one single-threaded epoll loop serving
 * JSON-RPC over stdio or Streamable HTTP. Tools are the contract table's
 * operations exposed on the chosen surface (profile or mode); every
 * tools/call runs its handler in a forked worker process, so a long call
 * never blocks ping, cancellation or other calls.
 *
 * Pieces, one file each:
 *   server.c   sessions, JSON-RPC dispatch, calls in flight, lifecycle,
 *              logging
 *   era.c      protocol revisions: the legacy (initialize) and modern
 *              (2026-07-28, per-request _meta) eras' shapes
 *   tools.c    tools/list and tools/call shaping from the contract table
 *   modes.c    task-specific tool descriptions of the named modes
 *   worker.c   forked workers: progress, results, cancellation; it
 *              reports to the server through callbacks only
 *   admit.c    per-workspace call limits and the queue for a free worker
 *   tasks.c    task-augmented tools/call and tasks/get|result|cancel|list
 *   stdio.c    newline-delimited JSON on stdin/stdout
 *   http*.c    Streamable HTTP on libmicrohttpd (/mcp); pieces in mcp/http.h
 *   project.c  the project source (git checkout, --project-path, --repo-url)
 *   roots.c    the host-path policy's roots: --allow-host-path, defaults,
 *              the client's MCP roots (roots/list)
 *   serve.c    pyro_mcp_serve(): options, setup, teardown
 * The loop is base/ae.h; the server's fds (transport, signalfd, worker
 * pipes) are its file events. */
#ifndef PYRO_MCP_H
#define PYRO_MCP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/ae.h"
#include "base/err.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"
#include "mcp/admit.h"

struct host_policy;
struct mcp_roots;

#define MCP_LATEST_VERSION "2025-11-25"
/* The stateless revision (era.c). */
#define MCP_MODERN_VERSION "2026-07-28"
#define MCP_TASKS_EXTENSION "io.modelcontextprotocol/tasks"
/* 2026-07-28's UnsupportedProtocolVersionError and HeaderMismatchError. */
#define MCP_E_UNSUPPORTED_VERSION (-32022)
#define MCP_E_HEADER_MISMATCH (-32020)
/* The caching hint (ttlMs) on modern list and discover results. */
#define MCP_CACHE_TTL_MS (5 * 60 * 1000)
/* Most concurrent tools/call workers of one server. */
#define MCP_MAX_WORKERS 16
/* Largest message accepted on either transport, and largest worker result. */
#define MCP_MESSAGE_MAX (16u * 1024 * 1024)
#define MCP_ENDPOINT "/mcp"

/* ---- server.c --------------------------------------------------------- */

struct mcp_server;
struct mcp_session;
struct mcp_exchange;
struct mcp_worker;

/* How an exchange hands messages to its transport. emit(msg, final):
 * msg is a response, a batch array of responses or a related notification
 * (final false); final true ends the exchange (msg may be NULL when there
 * was nothing to answer). release() is called once nothing refers to the
 * exchange any more. */
struct mcp_exchange_ops {
    void (*emit)(struct mcp_exchange *x, json_t *msg, bool final);
    void (*release)(struct mcp_exchange *x);
};

/* One incoming message (or batch) and everything it causes. */
struct mcp_exchange {
    const struct mcp_exchange_ops *ops;
    void *transport; /* transport's per-exchange data */
    struct mcp_session *session;
    int refs;    /* the transport's + one per request in flight */
    int pending; /* requests not yet answered */
    bool batch;
    json_t *responses; /* batch: collected responses */
    bool sent_final;
    bool notified; /* a notification was emitted */
    bool modern;   /* a 2026-07-28 request (era.c): resultType, no session state */
    int log_level; /* modern: its _meta logLevel (index), or MCP_LOG_NONE */
};

struct mcp_session {
    struct mcp_server *srv;
    char id[40];            /* HTTP Mcp-Session-Id; "" on stdio */
    bool initialized;       /* initialize answered */
    bool stateless;         /* HTTP: the one session of 2026-07-28 requests (no Mcp-Session-Id) */
    char version[16];       /* negotiated protocol revision */
    int log_level;          /* index in mcp_log_levels; notifications at or above it */
    struct mcp_call *calls; /* tools/call in flight */
    struct mcp_session *next;
    int64_t last_used_ms;
    struct mcp_roots *roots; /* roots.c: the client's MCP roots, or NULL */
};

/* A tools/call in flight: server.c owns it; roots.c may hold it back
 * (parked, worker NULL) until the client's roots are known. */
struct mcp_call {
    struct mcp_session *session;
    struct mcp_exchange *x;
    json_t *id;             /* JSON-RPC id */
    json_t *progress_token; /* or NULL */
    double progress;        /* last progress value sent */
    const struct contract_op *op;
    struct mcp_worker *worker;    /* NULL until started */
    struct mcp_admit_state admit; /* admit.c: its instance, the queue */
    bool task;                    /* reports to a task (tasks.c), answered already */
    struct mcp_call *next;
};

struct mcp_server {
    struct pyro_ctx *ctx;
    struct ae_loop *loop;
    enum contract_surface surface;
    const char *surface_name;
    char *project_source; /* default seed path, or NULL */
    char *project_origin; /* how it was found: "git checkout", "--project-path", "--repo-url" */
    bool project_owned;   /* a clone of ours, removed at exit */
    char *instructions;
    int workers; /* workers running, all sessions (worker.c) */
    struct mcp_session *sessions;
    /* The transport's channel for notifications unrelated to a request
     * (stdio: stdout; HTTP: the session's GET stream, if open). */
    void (*session_notify)(struct mcp_session *s, json_t *msg);
    void *session_notify_data;
    pid_t cleaners[MCP_MAX_WORKERS]; /* clean-up children still running (worker.c) */
    struct host_policy *host_policy; /* roots.c: the server's roots (ctx->host_policy) */
    char *export_dir;                /* roots.c: this server's export directory */
};

extern const char *const mcp_log_levels[]; /* RFC 5424 names, debug first */
#define MCP_LOG_NONE 100                   /* above every level */
int mcp_log_level_find(const char *name);

int mcp_server_init(struct mcp_server *srv, struct pyro_ctx *ctx, enum contract_surface surface);
void mcp_server_fini(struct mcp_server *srv);
struct mcp_session *mcp_session_new(struct mcp_server *srv);
/* Kills the session's calls (cleaning up their ephemeral instances) and
 * frees it. */
void mcp_session_free(struct mcp_session *s);

/* Handles one message text (a request, notification, response or batch).
 * The transport has created x with refs == 1 and drops its reference with
 * mcp_exchange_unref() when it no longer needs x. */
void mcp_server_handle(struct mcp_server *srv, struct mcp_exchange *x, const char *text, size_t len);
void mcp_exchange_unref(struct mcp_exchange *x);
/* Answers one request of x (takes the reference to resp). */
void mcp_exchange_reply(struct mcp_exchange *x, json_t *resp);
/* A request of x ends without an answer (cancelled). */
void mcp_exchange_drop(struct mcp_exchange *x);
/* A notification related to a request of x. */
void mcp_exchange_notify(struct mcp_exchange *x, json_t *msg);
/* A log notification to the session (level index), if its level allows. */
void mcp_session_log(struct mcp_session *s, struct mcp_exchange *x, int level, const char *logger, const char *text);

/* Starts c's worker (validated args); its events come back to server.c.
 * Same errors as mcp_worker_start. */
int mcp_call_start(struct mcp_call *c, json_t *args, pyro_error *err);
/* Ends a call that could not start with err as its outcome. */
void mcp_call_fail(struct mcp_call *c, const pyro_error *err);
/* Cancels c (kills its worker, so the guest command): no reply is sent. */
void mcp_call_cancel(struct mcp_call *c);

json_t *mcp_error_response(const json_t *id, int code, const char *message, json_t *data);
json_t *mcp_result_response(const json_t *id, json_t *result);
/* Every text that leaves the server in a log message goes through here,
 * so that secret redaction has one place to live. */
char *mcp_redact(const char *text);

/* ---- era.c ----------------------------------------------------------- */

extern const char *const mcp_legacy_versions[]; /* newest first, NULL-terminated */
extern const char *const mcp_modern_versions[];
json_t *mcp_server_info(void);
json_t *mcp_server_capabilities(bool modern);
/* The version a request names in params._meta (modern), or NULL (legacy). */
const char *mcp_era_version(const json_t *params);
/* NULL when a modern request's version and _meta are acceptable, else the
 * error response (UnsupportedProtocolVersionError names ours). */
json_t *mcp_era_check(const json_t *id, const json_t *params);
/* Whether the request's client capabilities declare the tasks extension. */
bool mcp_era_client_has_tasks(const json_t *params);
/* The request's _meta logLevel as an index, or MCP_LOG_NONE. */
int mcp_era_log_level(const json_t *params);
/* server/discover's result. */
json_t *mcp_era_discover(const struct mcp_server *srv);
/* Adds ttlMs and cacheScope to a list result. */
void mcp_era_cacheable(json_t *result);
/* A modern response: resultType "complete" unless set, serverInfo in _meta. */
void mcp_era_stamp(json_t *resp);

/* ---- tools.c / modes.c ------------------------------------------------ */

json_t *mcp_tools_list(const struct mcp_server *srv);
/* The description of op on surface s (mode-specific for modes). */
char *mcp_tool_description(const struct contract_op *op, enum contract_surface s);
const char *mcp_mode_instructions(enum contract_surface s);
const char *mcp_mode_tool_hint(enum contract_surface s, const char *tool);
/* A CallToolResult from a worker outcome. */
json_t *mcp_tool_result(const json_t *outcome);
json_t *mcp_tool_error(const char *code_name, const char *message);

/* Whether the tool may run as a task (execution.taskSupport "optional"):
 * the long ones, workspace_exec and vm_run. */
bool mcp_tool_task_support(const struct contract_op *op);

/* ---- tasks.c ---------------------------------------------------------- */

/* Per session: tasks working at once, and tasks kept (any status; the
 * oldest ended one makes room for a new one). */
#define MCP_TASKS_RUNNING_MAX 8
#define MCP_TASKS_KEPT_MAX 32
/* How long an ended task's result is kept (the client's task.ttl,
 * clamped), and the polling interval suggested to the client. */
#define MCP_TASK_TTL_DEFAULT_MS (60 * 60 * 1000)
#define MCP_TASK_TTL_MIN_MS (60 * 1000)
#define MCP_TASK_TTL_MAX_MS (24 * 60 * 60 * 1000)
#define MCP_TASK_POLL_MS 1000
/* tasks/result requests waiting on one task. */
#define MCP_TASK_WAITERS_MAX 8

/* What the dispatch (server.c) asks of tasks.c, through this table so
 * that the two files do not call each other (tasks.c cancels calls
 * through server.c). */
struct mcp_tasks_ops {
    /* tools/call of tool with params.task (task_params), or a modern one
     * (x->modern) whose client declared the tasks extension: a new task of s.
     * Returns the exchange the call is to report to and sets *resp to the
     * CreateTaskResult; or returns NULL with *resp the refusal. */
    struct mcp_exchange *(*create)(struct mcp_session *s, struct mcp_exchange *x, const json_t *id, const char *tool,
                                   const json_t *task_params, json_t **resp);
    /* The task's call was started (it may wait in the admission queue). */
    void (*started)(struct mcp_exchange *x, struct mcp_call *c);
    /* The task's call could not start: forget the task. */
    void (*abort)(struct mcp_exchange *x);
    /* tasks/get, tasks/result, tasks/cancel, tasks/list of session s: the
     * response, or NULL with *async set (tasks/result waits). */
    json_t *(*request)(struct mcp_session *s, struct mcp_exchange *x, const json_t *id, const char *method,
                       const json_t *params, bool *async);
    /* Cancels and drops s's tasks. */
    void (*session_free)(struct mcp_session *s);
};
extern const struct mcp_tasks_ops mcp_tasks_ops;

/* ---- worker.c --------------------------------------------------------- */

/* A forked process running one operation's handler. It knows nothing of
 * sessions or JSON-RPC: what it has to say reaches its owner through the
 * callbacks the owner gives it. */
struct mcp_worker;

struct mcp_worker_events {
    /* A library progress event: {"operation","phase","current","total",
     * "message"}. */
    void (*progress)(void *data, const json_t *progress);
    /* A library log line: level name (log.h), message. */
    void (*log)(void *data, const char *level, const char *message);
    /* The outcome, {"result":{...}} or {"error":{"code","message"}}, also
     * when the worker died or overran the message limit. The last event:
     * the worker is freed when this returns. */
    void (*done)(void *data, const json_t *outcome);
};

/* Starts op (validated args) in a worker that reports to ev with data;
 * -PYRO_E_LIMIT when MCP_MAX_WORKERS run (mcp_call_start admits calls
 * first: admit.h). */
int mcp_worker_start(struct mcp_server *srv, const struct contract_op *op, json_t *args,
                     const struct mcp_worker_events *ev, void *data, struct mcp_worker **out, pyro_error *err);
pid_t mcp_worker_pid(const struct mcp_worker *w);
/* Cancels w: SIGKILL, reap, destroy the instances it created for itself
 * (vm_run's VM) in a clean-up child, free. No event follows. */
void mcp_worker_cancel(struct mcp_worker *w);
/* Reaps finished clean-up children (all of them, waiting, when wait). */
void mcp_server_reap(struct mcp_server *srv, bool wait);

/* ---- transports ------------------------------------------------------- */

int mcp_stdio_serve(struct mcp_server *srv, int in_fd, int out_fd, pyro_error *err);

struct mcp_http_config {
    const char *listen;     /* "ADDR:PORT" */
    const char *token_file; /* bearer token file, or NULL: one is generated */
    const char *state_dir;  /* where a generated token file goes (mcp/) */
    void (*on_listen)(void *data, const char *url);
    void (*on_token_file)(void *data, const char *path); /* a generated one */
    void *on_listen_data;
};
int mcp_http_serve(struct mcp_server *srv, const struct mcp_http_config *cfg, pyro_error *err);

/* ---- roots.c ---------------------------------------------------------- */

/* The server's roots: the --allow-host-path directories (allow,
 * NULL-terminated), the project source (read only) and a new export
 * directory under the state dir; sets ctx->host_policy. Teardown clears
 * it and removes the export directory if nothing was exported. */
int mcp_roots_setup(struct mcp_server *srv, const char *const *allow, pyro_error *err);
void mcp_roots_teardown(struct mcp_server *srv);
/* The roots, for the server instructions (malloc'ed). */
char *mcp_roots_instructions(const struct mcp_server *srv);

/* What the dispatch (server.c) asks of roots.c, reached through this
 * table so that the two files do not call each other (roots.c starts
 * the calls it held back through server.c). */
struct mcp_roots_ops {
    /* initialize: whether the client offers roots (capabilities.roots). */
    void (*initialize)(struct mcp_session *s, const json_t *params);
    /* Starts c's worker (mcp_call_start) with the server's roots plus the
     * session's, first asking the client for them (roots/list) when they
     * are unknown; the call then waits. Same contract as mcp_call_start. */
    int (*call_start)(struct mcp_server *srv, struct mcp_call *c, json_t *args, pyro_error *err);
    /* A JSON-RPC response from the client: true when it answered roots/list. */
    bool (*response)(struct mcp_session *s, const json_t *msg);
    /* notifications/roots/list_changed. */
    void (*changed)(struct mcp_session *s);
    void (*session_free)(struct mcp_session *s);
};
extern const struct mcp_roots_ops mcp_roots_ops;

/* ---- project.c -------------------------------------------------------- */

struct mcp_project_opts {
    const char *project_path;
    const char *repo_url;
    const char *repo_ref;
};
/* Resolves the project source into srv (none is fine). */
int mcp_project_resolve(struct mcp_server *srv, const struct mcp_project_opts *o, pyro_error *err);
/* Removes a clone made for --repo-url. */
void mcp_project_release(struct mcp_server *srv);

#endif
