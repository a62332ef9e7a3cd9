/* workspace_exec and workspace_logs: commands in /workspace and their
 * persisted history. */
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "lib/contract/contract.h"
#include "lib/contract/params.h"
#include "lib/vm/vm.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_schema.h"
#include "lib/workspace/ws_secrets.h"

/* A copy of a captured stream cut to WS_HISTORY_OUTPUT_MAX bytes on a
 * UTF-8 boundary. */
static json_t *bounded(const struct proto_exec_stream *s, bool *cut)
{
    const char *p = s->text ? s->text : "";
    size_t k = s->text ? s->len : 0;
    *cut = k > WS_HISTORY_OUTPUT_MAX;
    if (*cut) {
        k = WS_HISTORY_OUTPUT_MAX;
        while (k > 0 && ((unsigned char)p[k] & 0xC0) == 0x80)
            k--;
    }
    json_t *v = json_stringn(p, k);
    if (!v)
        abort(); /* only on allocation failure: the text is checked UTF-8 */
    return v;
}

/* Redacts a captured stream in place (ctx's redactor): a stream cut at the
 * capture limit also loses a trailing start of a value. */
static void redact_stream(const struct redact *red, struct proto_exec_stream *s)
{
    if (!red || !s->text)
        return;
    size_t n;
    char *t = redact_text(red, s->text, s->len, s->truncated ? REDACT_CUT_END : 0, &n);
    explicit_bzero(s->text, s->len);
    free(s->text);
    s->text = t;
    s->len = n;
}

/* secret_env as the exec request's environment: *env borrows from *obj. */
static int exec_env(const struct instance *inst, const json_t *args, json_t **obj, struct proto_exec_env **env,
                    size_t *n, pyro_error *err)
{
    *env = NULL;
    *n = 0;
    int r = ws_secrets_env(inst, json_object_get(args, "secret_env"), obj, err);
    if (r < 0 || !*obj)
        return r;
    *env = xcalloc(json_object_size(*obj), sizeof(**env));
    const char *k;
    json_t *v;
    json_object_foreach(*obj, k, v)
        (*env)[(*n)++] = (struct proto_exec_env){k, json_string_value(v)};
    return 0;
}

/* The history entry of a command: the same facts as its result, output
 * bounded per stream. */
static json_t *history_entry(long long seq, const char *command, const struct proto_exec_result *res,
                             const char *started, const char *finished)
{
    bool cut_o, cut_e;
    json_t *e = json_object();
    json_set(e, "sequence", json_integer(seq));
    json_set(e, "command", json_string(command));
    json_set(e, "exit_code", json_integer(res->exit_code));
    json_set(e, "stdout", bounded(&res->out, &cut_o));
    json_set(e, "stderr", bounded(&res->err, &cut_e));
    json_set(e, "started_at", json_string(started));
    json_set(e, "finished_at", json_string(finished));
    json_set(e, "duration_ms", json_integer(res->duration_ms));
    json_set(e, "timed_out", json_boolean(res->timed_out));
    json_set(e, "stdout_truncated", json_boolean(cut_o || res->out.truncated));
    json_set(e, "stderr_truncated", json_boolean(cut_e || res->err.truncated));
    return e;
}

static int ws_exec_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = ws_open_op(ctx, args, &inst, NULL, err);
    if (r < 0)
        return r;
    r = ws_require_running(&inst, err);
    json_auto_t *envobj = NULL;
    _cleanup_free_ struct proto_exec_env *env = NULL;
    size_t env_n = 0;
    if (r == 0)
        r = exec_env(&inst, args, &envobj, &env, &env_n, err);
    if (r < 0)
        return r;
    const char *command = json_get_str(args, "command", "");
    int timeout = (int)json_get_int(args, "timeout_seconds", PYRO_DEFAULT_TIMEOUT_SECONDS);
    char started[PYRO_TIME_ISO_LEN], finished[PYRO_TIME_ISO_LEN];
    time_iso(started, time_wall_ms());
    json_auto_t *out = json_object();
    json_set(out, "workspace_id", json_string(inst.id));
    json_set(out, "environment", json_string(json_get_str(inst.rec, "environment", "")));
    json_set(out, "sequence", json_integer(0)); /* numbered when recorded */
    json_set(out, "command", json_string(command));
    json_set(out, "cwd", json_string(WS_ROOT));
    instance_isolation(&inst, out);
    char where[64];
    snprintf(where, sizeof(where), "workspace_id=%s", inst.id);
    ctx_progress(ctx, "exec", "run", -1, -1, where);
    /* The command runs without the workspace lock: status, list, file
     * reads, stop and delete go ahead meanwhile (instance_unlock). */
    instance_unlock(&inst);
    struct proto_exec_result res;
    r = instance_exec_env(&inst, command, WS_ROOT, timeout, env, env_n, &res, err);
    /* Stopped, reset or deleted meanwhile: that error replaces the
     * command's own (a lost connection), and nothing is recorded. */
    int lr = instance_relock(&inst, "the command ran", err);
    if (lr < 0) {
        if (r == 0)
            proto_exec_result_clear(&res);
        return lr;
    }
    if (r < 0)
        return r;
    redact_stream(ctx->redact, &res.out);
    redact_stream(ctx->redact, &res.err);
    proto_exec_result_pack(&res, true, out);
    ctx_progress(ctx, "exec", "done", -1, -1, where);
    time_iso(finished, time_wall_ms());
    json_set(out, "started_at", json_string(started));
    json_set(out, "finished_at", json_string(finished));

    /* Numbered under the lock, from the record as it is now: commands that
     * ran at the same time get distinct sequence numbers. Only a checked,
     * typed result reaches the history. */
    long long seq = json_get_int(inst.rec, "next_sequence", 1);
    json_set(out, "sequence", json_integer(seq));
    json_auto_t *entry = history_entry(seq, command, &res, started, finished);
    proto_exec_result_clear(&res);
    r = ws_history_append(&inst, entry, err);
    if (r == 0) {
        json_set(inst.rec, "next_sequence", json_integer(seq + 1));
        json_set(inst.rec, "command_count", json_integer(json_get_int(inst.rec, "command_count", 0) + 1));
        json_set(inst.rec, "last_command",
                 json_pack("{s:I, s:o, s:O, s:s}", "sequence", (json_int_t)seq, "command",
                           redact_json(ctx->redact, json_object_get(out, "command")), "exit_code",
                           json_object_get(out, "exit_code"), "finished_at", finished));
        r = ws_touch(&inst, err);
    }
    if (r < 0)
        return r;
    *result = json_incref(out);
    return 0;
}

static int ws_logs_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_instance_ struct instance inst = {0};
    int r = ws_open_op(ctx, args, &inst, NULL, err);
    if (r < 0)
        return r;
    json_t *entries = ws_jsonl_load(&inst, "history.jsonl", WS_HISTORY_MAX_ENTRIES);
    long long total = json_get_int(inst.rec, "command_count", 0);
    *result = json_pack("{s:s, s:I, s:I, s:b, s:o}", "workspace_id", inst.id, "count",
                        (json_int_t)json_array_size(entries), "command_count", (json_int_t)total, "truncated",
                        total > (long long)json_array_size(entries), "entries", entries);
    return 0;
}

static const struct contract_param ws_exec_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_TIMEOUT_SECONDS,
    PARAM_STR("command", "Shell command to run (/bin/sh -c) in /workspace.", .flags = PF_REQUIRED | PF_REST,
              .max = PYRO_COMMAND_MAX),
    WS_SECRET_ENV_PARAM,
    PARAM_END,
};
static const struct contract_param ws_id_params[] = {PARAM_WORKSPACE_ID, PARAM_END};

const struct contract_op op_workspace_exec = {
    .name = "workspace_exec",
    .cli = "workspace exec",
    .title = "Run a command in a workspace",
    .summary = "Run one command in /workspace of a started workspace.",
    .description = "Run a shell command (/bin/sh -c, as root) in /workspace and return its exit code and output. "
                   "The workspace keeps its files between commands; every command is appended to the "
                   "persisted history that workspace_logs returns.",
    .params = ws_exec_params,
    .output_schema = WS_EXEC_SCHEMA,
    .annotations = PA_DESTRUCTIVE,
    .exposure = WS_FULL | WS_CORE | WS_REPRO | WS_INSPECT | WS_COLD | WS_REVIEW,
    .handler = ws_exec_run,
};

const struct contract_op op_workspace_logs = {
    .name = "workspace_logs",
    .cli = "workspace logs",
    .title = "Workspace command history",
    .summary = "Show the commands run since the last reset.",
    .description = "Return the persisted command history since the last reset: sequence, command, exit code, "
                   "stdout and stderr (at most 64 KiB each per entry), times and duration; the last 1000 "
                   "entries are kept.",
    .params = ws_id_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"count\",\"entries\"],\"properties\":{"
                     "\"workspace_id\":" WS_STR ",\"count\":" WS_INT ",\"command_count\":" WS_INT
                     ",\"truncated\":" WS_BOOL ",\"entries\":" WS_ARR_OBJ "}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = WS_FULL | WS_CORE | WS_REPRO | WS_INSPECT | WS_COLD | WS_REVIEW,
    .handler = ws_logs_run,
};
