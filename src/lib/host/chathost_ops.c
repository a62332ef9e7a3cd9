/* `pyro host connect|print-config|doctor|repair` (docs/hosts.md): the
 * operations over chathost_entry.c and chathost_cli.c. CLI and C API only;
 * nothing here is an MCP tool (a model does not rewrite its host's config). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"
#include "lib/host/chathost.h"

static const char *const host_choices[] = {"claude-code", "codex", "opencode", NULL};
static const char *const scope_choices[] = {"user", "project", NULL};
static const char *const profile_choices[] = {"vm-run", "workspace-core", "workspace-full", NULL};
static const char *const mode_choices[] = {"repro-fix", "inspect", "cold-start", "review-eval", NULL};
static const char *const method_choices[] = {"auto", "cli", "file", NULL};

#define P_HOST(fl)                                                                                              \
    PARAM_STR("host", "The chat host: claude-code, codex or opencode.", .flags = (fl), .choices = host_choices, \
              .max = 32)
#define P_SCOPE                                                                                                  \
    PARAM_STR("scope",                                                                                           \
              "Where the entry lives: user (the host's user config) or project (the project's own config file: " \
              ".mcp.json for Claude Code, opencode.json for OpenCode; Codex has user scope only).",              \
              .has_default = true, .def_str = "user", .choices = scope_choices, .max = 16)
#define P_SERVE                                                                                             \
    PARAM_STR("profile", "The server's --profile (default: the server's, workspace-core).",                 \
              .choices = profile_choices, .max = 32),                                                       \
        PARAM_STR("mode", "The server's --mode instead of a profile.", .choices = mode_choices, .max = 32), \
        PARAM_STR("project_path",                                                                           \
                  "Pins the server's project source (--project-path, made absolute); also the "             \
                  "project of --scope project (default there: the working directory).",                     \
                  .metavar = "PATH"),                                                                       \
        PARAM_STR("pyro_path", "The pyro binary the entry starts (default: this one).", .metavar = "PATH")
#define P_METHOD                                                                                                  \
    PARAM_STR("method",                                                                                           \
              "auto: the host's CLI when it is on PATH, else pyro edits the config file; cli or file to choose.", \
              .has_default = true, .def_str = "auto", .choices = method_choices, .max = 8)

static int target_of(const json_t *args, struct chathost_target *t, pyro_error *err)
{
    int k = chathost_find(json_get_str(args, "host", ""));
    if (k < 0)
        return err_set(err, -PYRO_E_INVALID, "unknown host '%s' (claude-code, codex or opencode)",
                       json_get_str(args, "host", ""));
    return chathost_target_init(t, (enum chathost_kind)k, args, err);
}

static json_t *target_json(const struct chathost_target *t)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:O}", "host", chathost_name(t->kind), "scope",
                     t->project ? "project" : "user", "config_path", t->config_path, "command", t->command, "args",
                     t->args);
}

/* Writes t's entry by method; fills method, backup_path and cli_output. */
static int connect_target(struct chathost_target *t, const char *method, json_t *res, pyro_error *err)
{
    bool cli_ok = strcmp(method, "file") != 0;
    /* OpenCode's `mcp add` has no scope choice: a project entry is written by pyro. */
    if (t->kind == CHATHOST_OPENCODE && t->project)
        cli_ok = false;
    if (cli_ok) {
        _cleanup_free_ char *out = NULL;
        int r = chathost_cli_add(t, &out, err);
        if (r == 0) {
            json_object_set_new(res, "method", json_string("cli"));
            json_object_set_new(res, "cli_output", json_string(out));
            json_object_set_new(res, "backup_path", json_null());
            /* Where the CLI put it: the file pyro reads must now hold it. */
            json_auto_t *e = NULL;
            pyro_error e_err = {0};
            r = chathost_target_locate(t, err);
            if (r < 0)
                return r;
            json_object_set_new(res, "config_path", json_string(t->config_path));
            if (chathost_entry_read(t, &e, &e_err) < 0 || strcmp(json_get_str(e, "command", ""), t->command))
                return err_set(err, -PYRO_E_STATE, "%s mcp add succeeded, but %s holds no matching pyro entry",
                               chathost_program(t->kind), t->config_path);
            return 0;
        }
        if (r != -ENOENT)
            return r;
        if (!strcmp(method, "cli"))
            return err_set(err, -PYRO_E_UNSUPPORTED, "%s is not on PATH (use --method file or auto)",
                           chathost_program(t->kind));
    }
    _cleanup_free_ char *backup = NULL;
    int r = chathost_entry_write(t, &backup, err);
    if (r < 0)
        return r;
    json_object_set_new(res, "method", json_string("file"));
    json_object_set_new(res, "backup_path", backup ? json_string(backup) : json_null());
    return 0;
}

static int connect_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    (void)ctx;
    struct chathost_target t;
    int r = target_of(args, &t, err);
    if (r == 0) {
        json_auto_t *res = target_json(&t);
        r = connect_target(&t, json_get_str(args, "method", "auto"), res, err);
        if (r == 0)
            *result = json_incref(res);
    }
    chathost_target_clear(&t);
    return r;
}

static int print_config_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    (void)ctx;
    struct chathost_target t;
    int r = target_of(args, &t, err);
    if (r == 0) {
        json_t *res = target_json(&t);
        _cleanup_free_ char *snippet = chathost_snippet(&t);
        json_object_set_new(res, "snippet", json_string(snippet));
        *result = res;
    }
    chathost_target_clear(&t);
    return r;
}

/* One host's check: the entry, its command, the server answering. */
static json_t *doctor_one(const struct chathost_target *t, bool required)
{
    json_t *res = target_json(t);
    json_t *problems = json_array();
    json_object_set_new(res, "problems", problems);
    json_auto_t *e = NULL;
    pyro_error err = {0};
    int r = chathost_entry_read(t, &e, &err);
    json_object_set_new(res, "configured", json_boolean(r == 0));
    json_object_set_new(res, "points_at_pyro", json_false());
    json_object_set_new(res, "server_ok", json_false());
    json_object_set_new(res, "tools", json_integer(0));
    if (r == -ENOENT) {
        if (required)
            json_array_append_new(problems, json_sprintf("no '%s' entry in %s (run 'pyro host connect %s')",
                                                         CHATHOST_SERVER_NAME, t->config_path, chathost_name(t->kind)));
        json_object_set_new(res, "ok", json_boolean(!required));
        return res;
    }
    if (r < 0) {
        json_array_append_new(problems, json_string(err.message));
        json_object_set_new(res, "ok", json_false());
        return res;
    }
    const char *cmd = json_get_str(e, "command", "");
    json_object_set_new(res, "entry_command", json_string(cmd));
    json_object_set(res, "entry_args", json_object_get(e, "args"));
    bool same = !strcmp(cmd, t->command);
    json_object_set_new(res, "points_at_pyro", json_boolean(same));
    if (!same)
        json_array_append_new(problems, json_sprintf("the entry starts %s, not this pyro (%s)",
                                                     cmd[0] ? cmd : "nothing", t->command));
    json_t *a = json_object_get(e, "args");
    if (json_array_size(a) < 2 || strcmp(json_string_value(json_array_get(a, 0)) ?: "", "mcp") ||
        strcmp(json_string_value(json_array_get(a, 1)) ?: "", "serve"))
        json_array_append_new(problems, json_string("the entry's arguments do not start with 'mcp serve'"));
    int tools = 0;
    err_clear(&err);
    if (chathost_probe_server(e, &tools, &err) == 0) {
        json_object_set_new(res, "server_ok", json_true());
        json_object_set_new(res, "tools", json_integer(tools));
    } else {
        json_array_append_new(problems, json_sprintf("the server does not start: %s", err.message));
    }
    json_object_set_new(res, "ok", json_boolean(json_array_size(problems) == 0));
    return res;
}

static int doctor_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    (void)ctx;
    const char *host = json_get_str(args, "host", NULL);
    json_t *hosts = json_array();
    json_auto_t *res = json_pack("{s:o}", "hosts", hosts);
    bool ok = true;
    for (int k = 0; k < CHATHOST_COUNT; k++) {
        if (host && strcmp(host, chathost_name((enum chathost_kind)k)))
            continue;
        struct chathost_target t;
        /* Codex has user scope only: a project-scope doctor of all hosts skips it. */
        if (!host && k == CHATHOST_CODEX && !strcmp(json_get_str(args, "scope", "user"), "project"))
            continue;
        int r = chathost_target_init(&t, (enum chathost_kind)k, args, err);
        if (r < 0) {
            chathost_target_clear(&t);
            return r;
        }
        json_t *one = doctor_one(&t, host != NULL);
        ok = ok && json_is_true(json_object_get(one, "ok"));
        json_array_append_new(hosts, one);
        chathost_target_clear(&t);
    }
    json_object_set_new(res, "ok", json_boolean(ok));
    *result = json_incref(res);
    return 0;
}

static int repair_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    (void)ctx;
    struct chathost_target t;
    int r = target_of(args, &t, err);
    if (r < 0) {
        chathost_target_clear(&t);
        return r;
    }
    json_auto_t *before = doctor_one(&t, true);
    json_auto_t *res = target_json(&t);
    json_object_set(res, "problems_before", json_object_get(before, "problems"));
    if (json_is_true(json_object_get(before, "ok"))) {
        json_object_set_new(res, "repaired", json_false());
        json_object_set_new(res, "ok", json_true());
        *result = json_incref(res);
        chathost_target_clear(&t);
        return 0;
    }
    /* Keep the entry's own server arguments (profile, mode, project) unless
     * the command line names new ones. */
    json_t *old = json_object_get(before, "entry_args");
    bool flags = json_object_get(args, "profile") || json_object_get(args, "mode") ||
                 json_object_get(args, "project_path");
    bool old_ok = json_array_size(old) >= 2 && !strcmp(json_string_value(json_array_get(old, 0)) ?: "", "mcp") &&
                  !strcmp(json_string_value(json_array_get(old, 1)) ?: "", "serve");
    for (size_t i = 0; old_ok && i < json_array_size(old); i++)
        old_ok = json_is_string(json_array_get(old, i));
    if (!flags && old_ok) {
        json_decref(t.args);
        t.args = json_deep_copy(old);
        json_object_set(res, "args", t.args);
    }
    r = connect_target(&t, json_get_str(args, "method", "auto"), res, err);
    if (r == 0) {
        json_auto_t *after = doctor_one(&t, true);
        json_object_set_new(res, "repaired", json_true());
        json_object_set(res, "ok", json_object_get(after, "ok"));
        json_object_set(res, "problems", json_object_get(after, "problems"));
        *result = json_incref(res);
    }
    chathost_target_clear(&t);
    return r;
}

static const struct contract_param connect_params[] = {P_HOST(PF_REQUIRED | PF_POSITIONAL), P_SCOPE, P_SERVE, P_METHOD,
                                                       PARAM_END};
static const struct contract_param print_params[] = {P_HOST(PF_REQUIRED | PF_POSITIONAL), P_SCOPE, P_SERVE, PARAM_END};
static const struct contract_param doctor_params[] = {P_HOST(PF_POSITIONAL), P_SCOPE, P_SERVE, PARAM_END};

#define TARGET_PROPS                                                                                        \
    "\"host\":{\"type\":\"string\"},\"scope\":{\"type\":\"string\"},\"config_path\":{\"type\":\"string\"}," \
    "\"command\":{\"type\":\"string\"},\"args\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}"
#define TARGET_REQ "\"host\",\"scope\",\"config_path\",\"command\",\"args\""
#define CONNECT_PROPS                                                                                        \
    TARGET_PROPS ",\"method\":{\"type\":\"string\",\"enum\":[\"cli\",\"file\"]},\"backup_path\":{\"type\":[" \
                 "\"string\",\"null\"]},\"cli_output\":{\"type\":\"string\"}"
#define DOCTOR_ENTRY                                                                                         \
    "{\"type\":\"object\",\"required\":[" TARGET_REQ ",\"configured\",\"points_at_pyro\",\"server_ok\","     \
    "\"tools\",\"problems\",\"ok\"],\"properties\":{" TARGET_PROPS ",\"configured\":{\"type\":\"boolean\"}," \
    "\"points_at_pyro\":{\"type\":\"boolean\"},\"server_ok\":{\"type\":\"boolean\"},\"tools\":{\"type\":"    \
    "\"integer\"},\"ok\":{\"type\":\"boolean\"},\"entry_command\":{\"type\":\"string\"},\"entry_args\":{"    \
    "\"type\":\"array\"},\"problems\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}"

const struct contract_op op_host_connect = {
    .name = "host_connect",
    .cli = "host connect",
    .title = "Connect a chat host",
    .summary = "Add pyro's MCP server to Claude Code, Codex or OpenCode.",
    .description = "Add the pyro MCP server (this binary, absolute path, 'mcp serve' with the given profile, mode "
                   "and project) to a chat host's configuration as 'pyro': through the host's own CLI when it is "
                   "installed ('claude mcp add', 'codex mcp add', 'opencode mcp add'), else by merging it into the "
                   "host's config file (every other key kept; written atomically after a copy to "
                   "<file>.pyro-backup). A config file that is not valid JSON or TOML, is read-only or is a symbolic "
                   "link is left untouched, with an error.",
    .params = connect_params,
    .output_schema = "{\"type\":\"object\",\"required\":[" TARGET_REQ ",\"method\",\"backup_path\"],"
                     "\"properties\":{" CONNECT_PROPS "}}",
    .handler = connect_run,
};

const struct contract_op op_host_print_config = {
    .name = "host_print_config",
    .cli = "host print-config",
    .title = "Print a chat host's config snippet",
    .summary = "Print the MCP config snippet for a chat host; nothing is written.",
    .description = "Print the configuration snippet that adds pyro's MCP server to the host (JSON for Claude Code "
                   "and OpenCode, TOML for Codex) and the file it belongs in. Nothing is written.",
    .params = print_params,
    .output_schema = "{\"type\":\"object\",\"required\":[" TARGET_REQ ",\"snippet\"],\"properties\":{" TARGET_PROPS
                     ",\"snippet\":{\"type\":\"string\"}}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .handler = print_config_run,
};

const struct contract_op op_host_doctor = {
    .name = "host_doctor",
    .cli = "host doctor",
    .title = "Check chat host configs",
    .summary = "Check the pyro entry of each chat host (or one) and start its server.",
    .description = "For each chat host (or the one named): whether its config holds the 'pyro' entry, whether that "
                   "starts this pyro binary with 'mcp serve', and whether the server starts and answers initialize "
                   "and tools/list. A host without the entry is a problem only when named. Exit status 1 when a "
                   "check fails.",
    .params = doctor_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"ok\",\"hosts\"],\"properties\":{\"ok\":{\"type\":"
                     "\"boolean\"},\"hosts\":{\"type\":\"array\",\"items\":" DOCTOR_ENTRY "}}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .handler = doctor_run,
};

const struct contract_op op_host_repair = {
    .name = "host_repair",
    .cli = "host repair",
    .title = "Repair a chat host's pyro entry",
    .summary = "Rewrite a stale or broken pyro entry of a chat host.",
    .description = "Run the host doctor check and, when it fails (a stale pyro path, a broken or missing entry, a "
                   "server that does not start), write the entry again as 'host connect' does, keeping the entry's "
                   "own 'mcp serve' arguments unless --profile, --mode or --project-path are given. Exit status 1 "
                   "when the entry still fails the check.",
    .params = connect_params,
    .output_schema = "{\"type\":\"object\",\"required\":[" TARGET_REQ ",\"repaired\",\"ok\",\"problems_before\"],"
                     "\"properties\":{" CONNECT_PROPS ",\"repaired\":{\"type\":\"boolean\"},\"ok\":{\"type\":"
                     "\"boolean\"},\"problems_before\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
                     "\"problems\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}",
    .handler = repair_run,
};
