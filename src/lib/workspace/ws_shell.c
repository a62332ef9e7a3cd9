/* shell_open, shell_read, shell_write, shell_signal, shell_close: PTY
 * shells in a started workspace. The agent keeps the shells (their PTYs,
 * processes and output rings, in its memory, never under /workspace); each
 * operation is one agent request, so any process (a second CLI, another
 * MCP server) reads the same shell by cursor. The agent's replies are
 * checked against proto/reply.c before they get here. */
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "lib/contract/contract.h"
#include "lib/contract/params.h"
#include "lib/vm/instance_call.h"
#include "lib/workspace/shell_render.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_schema.h"
#include "lib/workspace/ws_secrets.h"
#include "proto/defaults.h"

#define SHELL_READ_MAX (1024 * 1024)
#define SHELL_IDLE_MAX_MS 10000
#define SHELL_INPUT_MAX 65536
/* Closing every shell (stop, reset, delete) waits this long at most: the
 * shells end with the sandbox anyway, only the count would be missing. */
#define SHELL_CLOSE_ALL_TIMEOUT_MS 10000

/* One request to the workspace's agent; the workspace lock is not held
 * meanwhile (a read may wait up to 30 s for quiet output). */
static int shell_call(struct pyro_ctx *ctx, json_t *args, const char *op, json_t *a, json_t **res,
                      struct agent_body *body, struct instance *inst, pyro_error *err)
{
    struct agent_conn *c = NULL;
    int r = ws_open_op(ctx, args, inst, &c, err);
    if (r < 0)
        return r;
    instance_unlock(inst);
    json_auto_t *req = json_pack("{s:s, s:O}", "op", op, "args", a);
    r = agent_call(c, req, NULL, 0, res, body, WS_CALL_TIMEOUT_MS, err);
    agent_conn_close(c);
    return r;
}

/* The result's common keys from the agent's: workspace_id, shell_id,
 * state, cols, rows and, once the shell ended, exit_code. */
static json_t *shell_out(const struct instance *inst, const json_t *res)
{
    json_t *o = json_object();
    json_set(o, "workspace_id", json_string(inst->id));
    static const char *const keys[] = {"shell_id", "state", "cols", "rows", "exit_code", "exit_signal"};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        json_t *v = json_object_get(res, keys[i]);
        if (v)
            json_set(o, keys[i], json_copy(v));
    }
    return o;
}

static int shell_open_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_free_ char *rel = NULL;
    int r = ws_guest_rel(json_get_str(args, "cwd", WS_ROOT), &rel, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *cwd = ws_guest_abs(rel);
    json_auto_t *a = json_pack("{s:s, s:I, s:I}", "cwd", cwd, "cols",
                               (json_int_t)json_get_int(args, "cols", PROTO_SHELL_COLS), "rows",
                               (json_int_t)json_get_int(args, "rows", PROTO_SHELL_ROWS));
    _cleanup_instance_ struct instance inst = {0};
    json_auto_t *res = NULL;
    if (json_object_size(json_object_get(args, "secret_env"))) {
        /* Resolved from the workspace's store before the shell exists. */
        json_t *env = NULL;
        r = ws_open_op(ctx, args, &inst, NULL, err);
        if (r == 0)
            r = ws_secrets_env(&inst, json_object_get(args, "secret_env"), &env, err);
        instance_close(&inst);
        memset(&inst, 0, sizeof(inst));
        if (r < 0)
            return r;
        json_set(a, "env", env);
    }
    r = shell_call(ctx, args, "shell_open", a, &res, NULL, &inst, err);
    if (r < 0)
        return r;
    json_t *o = shell_out(&inst, res);
    json_set(o, "cwd", json_copy(json_object_get(res, "cwd")));
    char ts[PYRO_TIME_ISO_LEN];
    time_iso(ts, json_get_int(res, "started_ms", 0));
    json_set(o, "started_at", json_string(ts));
    *result = o;
    return 0;
}

/* A read of a workspace with secrets (base/redact.h): the bytes just
 * before the cursor are read again as context, so a value that began in
 * the previous read is found whole; a tail that could begin a value is
 * held back (next_cursor stops before it) until more output or the
 * shell's end shows what it is. *data and *len are replaced by the
 * redacted text, *emitted gets the raw bytes it covers. */
static int shell_read_redact(const struct redact *red, const struct instance *inst, const json_t *args,
                             const json_t *res, char **safe, size_t *safe_len, const char *data, size_t len,
                             size_t *emitted, pyro_error *err)
{
    long long want = json_get_int(args, "cursor", 0), cur = json_get_int(res, "cursor", 0);
    struct agent_body lb = {0};
    unsigned flags = cur > want ? REDACT_CUT_START : 0; /* the ring dropped what was asked for */
    if (cur == want && cur > 0) {
        long long from = cur - (long long)redact_max_len(red) + 1;
        from = from < 0 ? 0 : from;
        json_auto_t *a = json_pack("{s:s, s:I, s:I}", "shell_id", json_get_str(args, "shell_id", ""), "cursor",
                                   (json_int_t)from, "max_bytes", (json_int_t)(cur - from));
        json_auto_t *req = json_pack("{s:s, s:O}", "op", "shell_read", "args", a);
        json_auto_t *lres = NULL;
        struct agent_conn *c = NULL;
        int r = ws_agent(inst, &c, err);
        if (r == 0)
            r = agent_call(c, req, NULL, 0, &lres, &lb, WS_CALL_TIMEOUT_MS, err);
        agent_conn_close(c);
        if (r < 0)
            return r;
        if (json_get_int(lres, "cursor", 0) > from || json_get_int(lres, "next_cursor", 0) != cur) {
            flags |= REDACT_CUT_START;
            agent_body_free(&lb);
            lb = (struct agent_body){0};
        }
    }
    size_t wlen = lb.len + len;
    _cleanup_free_ char *win = xmalloc(wlen + 1);
    if (lb.len)
        memcpy(win, lb.data, lb.len);
    if (len)
        memcpy(win + lb.len, data, len);
    agent_body_free(&lb);
    size_t from = wlen - len;
    bool final = strcmp(json_get_str(res, "state", ""), "running") != 0 &&
                 json_get_int(res, "next_cursor", 0) >= json_get_int(res, "end", 0);
    size_t hold = final ? 0 : redact_holdback(red, win, wlen);
    size_t to = wlen - hold < from ? from : wlen - hold;
    if (to == from && len > 0) {
        /* Everything new could begin a value (a max_chars below a value's
         * length): masked as cut rather than held, so reads progress. */
        to = wlen;
        flags |= REDACT_CUT_END;
    }
    *safe = redact_range(red, win, wlen, from, to, flags, safe_len);
    *emitted = to - from;
    return 0;
}

static int shell_read_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    bool plain = json_get_bool(args, "plain", false);
    json_auto_t *a = json_pack("{s:s, s:I, s:I}", "shell_id", json_get_str(args, "shell_id", ""), "cursor",
                               (json_int_t)json_get_int(args, "cursor", 0), "max_bytes",
                               (json_int_t)json_get_int(args, "max_chars", PROTO_SHELL_READ));
    if (json_object_get(args, "wait_for_idle_ms"))
        json_set(a, "wait_for_idle_ms", json_integer(json_get_int(args, "wait_for_idle_ms", 0)));
    _cleanup_instance_ struct instance inst = {0};
    json_auto_t *res = NULL;
    struct agent_body body = {0};
    int r = shell_call(ctx, args, "shell_read", a, &res, &body, &inst, err);
    if (r < 0)
        return r;
    const char *data = body.len ? (const char *)body.data : "";
    size_t len = body.len;
    json_auto_t *next = json_copy(json_object_get(res, "next_cursor"));
    _cleanup_free_ char *safe = NULL;
    if (ctx->redact) {
        size_t emitted = 0;
        r = shell_read_redact(ctx->redact, &inst, args, res, &safe, &len, data, body.len, &emitted, err);
        if (r < 0) {
            agent_body_free(&body);
            return r;
        }
        data = safe;
        json_decref(next);
        next = json_integer(json_get_int(res, "cursor", 0) + (json_int_t)emitted);
    }
    json_t *o = shell_out(&inst, res);
    json_set(o, "cursor", json_copy(json_object_get(res, "cursor")));
    json_set(o, "next_cursor", json_incref(next));
    if (plain) {
        size_t n;
        _cleanup_free_ char *text = shell_render_plain(data, len, &n);
        json_set(o, "output", json_stringn(text, n));
    } else
        json_set(o, "output", json_bytes(data, len, NULL));
    json_set(o, "plain", json_boolean(plain));
    json_set(o, "truncated", json_copy(json_object_get(res, "truncated")));
    json_set(o, "has_more", json_boolean(json_get_int(res, "next_cursor", 0) < json_get_int(res, "end", 0)));
    agent_body_free(&body);
    *result = o;
    return 0;
}

static int shell_write_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    const char *input = json_get_str(args, "input", "");
    bool nl = json_get_bool(args, "append_newline", true);
    _cleanup_free_ char *text = xasprintf("%s%s", input, nl ? "\n" : "");
    json_auto_t *a = json_pack("{s:s, s:s}", "shell_id", json_get_str(args, "shell_id", ""), "input", text);
    _cleanup_instance_ struct instance inst = {0};
    json_auto_t *res = NULL;
    int r = shell_call(ctx, args, "shell_write", a, &res, NULL, &inst, err);
    if (r < 0)
        return r;
    json_t *o = shell_out(&inst, res);
    json_set(o, "input_length", json_copy(json_object_get(res, "bytes")));
    json_set(o, "append_newline", json_boolean(nl));
    *result = o;
    return 0;
}

static int shell_signal_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    json_auto_t *a = json_pack("{s:s, s:s}", "shell_id", json_get_str(args, "shell_id", ""), "signal",
                               json_get_str(args, "signal_name", "INT"));
    _cleanup_instance_ struct instance inst = {0};
    json_auto_t *res = NULL;
    int r = shell_call(ctx, args, "shell_signal", a, &res, NULL, &inst, err);
    if (r < 0)
        return r;
    json_t *o = shell_out(&inst, res);
    json_set(o, "signal", json_copy(json_object_get(res, "signal")));
    *result = o;
    return 0;
}

static int shell_close_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    json_auto_t *a = json_pack("{s:s}", "shell_id", json_get_str(args, "shell_id", ""));
    _cleanup_instance_ struct instance inst = {0};
    json_auto_t *res = NULL;
    int r = shell_call(ctx, args, "shell_close", a, &res, NULL, &inst, err);
    if (r < 0)
        return r;
    json_t *o = shell_out(&inst, res);
    json_set(o, "closed", json_true());
    *result = o;
    return 0;
}

int ws_shells_close_all(const struct instance *inst)
{
    if (!instance_monitor_alive(inst))
        return 0;
    json_auto_t *a = json_pack("{s:b}", "all", 1);
    json_t *res = NULL;
    pyro_error err = {0};
    if (instance_call(inst, "shell_close", a, SHELL_CLOSE_ALL_TIMEOUT_MS, &res, &err) < 0)
        return 0; /* an agent without shells, or one that is gone: none open */
    int n = (int)json_get_int(res, "closed", 0);
    json_decref(res);
    return n;
}

/* ---- contract -------------------------------------------------------- */

static const char *const shell_signal_choices[] = {"INT", "TERM", "HUP", "KILL", NULL};

#define PARAM_SHELL_ID \
    PARAM_STR("shell_id", "Shell id (shell-N, from shell_open).", .flags = PF_REQUIRED | PF_POSITIONAL, .max = 16)

static const struct contract_param open_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("cwd", "Working directory of the shell, beneath /workspace.", .has_default = true, .def_str = WS_ROOT,
              .max = 4096, .metavar = "PATH"),
    PARAM_INT("cols", "Terminal width in columns.", .has_default = true, .def_int = PROTO_SHELL_COLS, .min = 1,
              .max = 1000),
    PARAM_INT("rows", "Terminal height in rows.", .has_default = true, .def_int = PROTO_SHELL_ROWS, .min = 1,
              .max = 1000),
    WS_SECRET_ENV_PARAM,
    PARAM_END,
};
static const struct contract_param read_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_SHELL_ID,
    PARAM_INT("cursor", "Byte offset in the shell's output to read from (the previous read's next_cursor).",
              .has_default = true, .def_int = 0, .min = 0, .max = (1LL << 53) - 1),
    PARAM_INT("max_chars", "Most bytes of raw output to return (1 MiB at most).", .has_default = true,
              .def_int = PROTO_SHELL_READ, .min = 1, .max = SHELL_READ_MAX),
    PARAM_BOOL("plain", "Render as plain text: strip terminal control sequences (colours, cursor moves, titles) "
                        "and apply carriage return and backspace. Cursors stay raw byte offsets."),
    PARAM_INT("wait_for_idle_ms",
              "Answer once the output has been quiet this long (at most 10000 ms; the read returns after "
              "30 s of output that never pauses). 300 suits interactive use.",
              .min = 0, .max = SHELL_IDLE_MAX_MS, .metavar = "MS"),
    PARAM_END,
};
static const struct contract_param write_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_SHELL_ID,
    PARAM_STR("input", "Text to type into the shell.", .flags = PF_REQUIRED, .max = SHELL_INPUT_MAX),
    PARAM_BOOL("append_newline", "Press Enter after the input (a newline).", .def_bool = true, .flag = "newline"),
    PARAM_END,
};
static const struct contract_param signal_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_SHELL_ID,
    PARAM_STR("signal_name", "Signal for the foreground process group of the shell's terminal.", .has_default = true,
              .def_str = "INT", .choices = shell_signal_choices, .flag = "signal", .max = 8),
    PARAM_END,
};
static const struct contract_param close_params[] = {PARAM_WORKSPACE_ID, PARAM_SHELL_ID, PARAM_END};

#define SHELL_PROPS                                                                                  \
    "\"workspace_id\":" WS_STR ",\"shell_id\":" WS_STR                                               \
    ",\"state\":{\"type\":\"string\",\"enum\":[\"running\",\"exited\",\"closed\"]},\"cols\":" WS_INT \
    ",\"rows\":" WS_INT ",\"exit_code\":" WS_INT ",\"exit_signal\":" WS_INT
#define SHELL_REQUIRED "\"workspace_id\",\"shell_id\",\"state\""
#define SHELL_EXPOSURE WS_FULL

const struct contract_op op_shell_open = {
    .name = "shell_open",
    .cli = "workspace shell open",
    .title = "Open a shell",
    .summary = "Open a persistent interactive shell (a PTY) in a started workspace.",
    .description = "Start an interactive shell (bash -i, else sh -i; TERM=xterm-256color) on a PTY in the "
                   "workspace. The shell keeps running between calls and clients: read it with shell_read, type "
                   "with shell_write, interrupt with shell_signal, end it with shell_close. At most 8 shells per "
                   "workspace; stop, reset and delete close them.",
    .params = open_params,
    .output_schema = "{\"type\":\"object\",\"required\":[" SHELL_REQUIRED ",\"cwd\",\"cols\",\"rows\",\"started_at\"],"
                     "\"properties\":{" SHELL_PROPS ",\"cwd\":" WS_STR ",\"started_at\":" WS_STR "}}",
    .exposure = SHELL_EXPOSURE,
    .id_key = "shell_id",
    .handler = shell_open_run,
};

const struct contract_op op_shell_read = {
    .name = "shell_read",
    .cli = "workspace shell read",
    .title = "Read shell output",
    .summary = "Read a shell's output from a cursor.",
    .description = "Return the shell's output (terminal output, stdout and stderr merged) after cursor, and "
                   "next_cursor for the next read. Each shell keeps its last 1 MiB of output: a cursor that fell "
                   "behind reads from the oldest kept byte and says truncated. has_more says output is left "
                   "beyond max_chars. plain renders clean text; wait_for_idle_ms batches output until it pauses.",
    .params = read_params,
    .output_schema = "{\"type\":\"object\",\"required\":[" SHELL_REQUIRED
                     ",\"cursor\",\"next_cursor\",\"output\",\"plain\",\"truncated\"],\"properties\":{" SHELL_PROPS
                     ",\"cursor\":" WS_INT ",\"next_cursor\":" WS_INT ",\"output\":" WS_STR ",\"plain\":" WS_BOOL
                     ",\"truncated\":" WS_BOOL ",\"has_more\":" WS_BOOL "}}",
    .annotations = PA_READ_ONLY,
    .exposure = SHELL_EXPOSURE,
    .handler = shell_read_run,
};

const struct contract_op op_shell_write = {
    .name = "shell_write",
    .cli = "workspace shell write",
    .title = "Write to a shell",
    .summary = "Type input into a shell.",
    .description = "Send text to the shell's terminal, followed by a newline (Enter) unless append_newline is "
                   "false. Read the effect with shell_read.",
    .params = write_params,
    .output_schema = "{\"type\":\"object\",\"required\":[" SHELL_REQUIRED
                     ",\"input_length\"],\"properties\":{" SHELL_PROPS ",\"input_length\":" WS_INT
                     ",\"append_newline\":" WS_BOOL "}}",
    .annotations = PA_DESTRUCTIVE,
    .exposure = SHELL_EXPOSURE,
    .handler = shell_write_run,
};

const struct contract_op op_shell_signal = {
    .name = "shell_signal",
    .cli = "workspace shell signal",
    .title = "Signal a shell",
    .summary = "Send INT, TERM, HUP or KILL to the shell's foreground process group.",
    .description = "Send a signal to the foreground process group of the shell's terminal (what ^C reaches): "
                   "INT stops a running command and leaves the shell at its prompt.",
    .params = signal_params,
    .output_schema = "{\"type\":\"object\",\"required\":[" SHELL_REQUIRED ",\"signal\"],\"properties\":{" SHELL_PROPS
                     ",\"signal\":" WS_STR "}}",
    .annotations = PA_DESTRUCTIVE,
    .exposure = SHELL_EXPOSURE,
    .handler = shell_signal_run,
};

const struct contract_op op_shell_close = {
    .name = "shell_close",
    .cli = "workspace shell close",
    .title = "Close a shell",
    .summary = "End a shell and every process it started.",
    .description = "Kill the shell's session (the shell and its jobs) and forget the shell and its output.",
    .params = close_params,
    .output_schema = "{\"type\":\"object\",\"required\":[" SHELL_REQUIRED ",\"closed\"],\"properties\":{" SHELL_PROPS
                     ",\"closed\":" WS_BOOL "}}",
    .annotations = PA_DESTRUCTIVE,
    .exposure = SHELL_EXPOSURE,
    .handler = shell_close_run,
};
