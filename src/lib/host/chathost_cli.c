/* The chat hosts' own CLIs (`claude mcp add`, `codex mcp add`, `opencode
 * mcp add`), and the check that the server an entry names starts and
 * answers initialize and tools/list over stdio. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/spawn_capture.h"
#include "lib/host/chathost.h"

#define CHATHOST_CLI_TIMEOUT_MS 120000
#define CHATHOST_PROBE_TIMEOUT_MS 30000
#define CHATHOST_OUTPUT_MAX (256u << 10)

/* argv: prog mcp <verb> [-s scope] pyro [-- command args...] */
static char **cli_argv(const struct chathost_target *t, const char *prog, const char *verb, bool with_cmd)
{
    size_t n = json_array_size(t->args);
    char **argv = xcalloc(n + 12, sizeof(char *));
    size_t k = 0;
    argv[k++] = xstrdup(prog);
    argv[k++] = xstrdup("mcp");
    argv[k++] = xstrdup(verb);
    if (t->kind == CHATHOST_CLAUDE) {
        argv[k++] = xstrdup("-s");
        argv[k++] = xstrdup(t->project ? "project" : "user");
    }
    argv[k++] = xstrdup(CHATHOST_SERVER_NAME);
    if (with_cmd) {
        argv[k++] = xstrdup("--");
        argv[k++] = xstrdup(t->command);
        for (size_t i = 0; i < n; i++)
            argv[k++] = xstrdup(json_string_value(json_array_get(t->args, i)));
    }
    return argv;
}

/* Runs a host CLI; *out gets its stdout and stderr together. */
static int cli_call(const struct chathost_target *t, char **argv, char **out, int *status, pyro_error *err)
{
    struct proc_opts o = {
        .timeout_ms = CHATHOST_CLI_TIMEOUT_MS,
        .max_output = CHATHOST_OUTPUT_MAX,
        .merge_stderr = true,
        /* Project scope: the CLI finds the project from its directory; user
         * scope: from / so that no checkout around us counts as a project. */
        .cwd = t->project ? t->project_dir : "/",
    };
    struct proc_result res = {0};
    int r = proc_spawn(argv, &o, &res, err);
    if (r < 0)
        return err_prefix(err, "%s mcp %s", chathost_program(t->kind), argv[2]);
    *status = res.status;
    *out = res.out ? res.out : xstrdup("");
    res.out = NULL;
    proc_result_free(&res);
    return 0;
}

int chathost_cli_add(const struct chathost_target *t, char **cli_output, pyro_error *err)
{
    *cli_output = NULL;
    _cleanup_free_ char *prog = NULL;
    pyro_error ignore = {0};
    if (proc_find_program(chathost_program(t->kind), &prog, &ignore) < 0)
        return -ENOENT;
    _cleanup_strv_ char **add = cli_argv(t, prog, "add", true);
    _cleanup_free_ char *out = NULL;
    int status = 0;
    int r = cli_call(t, add, &out, &status, err);
    if (r < 0)
        return r;
    if (status != 0 && t->kind == CHATHOST_CLAUDE && strstr(out, "already exists")) {
        /* claude refuses to replace an entry: remove it, then add again. */
        _cleanup_strv_ char **rm = cli_argv(t, prog, "remove", false);
        _cleanup_free_ char *rm_out = NULL;
        r = cli_call(t, rm, &rm_out, &status, err);
        if (r < 0)
            return r;
        if (status != 0)
            return err_set(err, -PYRO_E_STATE, "%s mcp remove failed (exit %d): %s", prog, status, rm_out);
        free(out);
        out = NULL;
        r = cli_call(t, add, &out, &status, err);
        if (r < 0)
            return r;
    }
    if (status != 0) {
        size_t l = strlen(out);
        while (l && (out[l - 1] == '\n' || out[l - 1] == ' '))
            out[--l] = '\0';
        return err_set(err, -PYRO_E_STATE, "%s mcp add failed (exit %d): %s", prog, status, out);
    }
    *cli_output = TAKE_PTR(out);
    return 0;
}

/* The response with id in the server's output lines, or NULL. */
static json_t *find_response(const char *out, long long id)
{
    const char *p = out;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        json_t *m = json_loadb(p, l, 0, NULL);
        if (m && json_integer_value(json_object_get(m, "id")) == id)
            return m;
        json_decref(m);
        p += l + (nl ? 1 : 0);
    }
    return NULL;
}

int chathost_probe_server(const json_t *entry, int *tools, pyro_error *err)
{
    *tools = 0;
    const char *command = json_get_str(entry, "command", NULL);
    json_t *args = json_object_get(entry, "args");
    if (!command || command[0] != '/')
        return err_set(err, -PYRO_E_INVALID, "the server command is not an absolute path");
    if (access(command, X_OK) < 0)
        return err_errno(err, errno, "the server command %s", command);
    static const char requests[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\","
        "\"capabilities\":{},\"clientInfo\":{\"name\":\"pyro-host-doctor\",\"version\":\"" PYRO_VERSION "\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}\n";
    /* The server wants a pipe for stdin: the requests fit in its buffer,
     * and its end closed is the EOF that ends the server. */
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    _cleanup_close_ int rd = fds[0];
    {
        _cleanup_close_ int wr = fds[1];
        if (write(wr, requests, sizeof(requests) - 1) != (ssize_t)(sizeof(requests) - 1))
            return err_errno(err, errno, "writing to the server");
    }
    size_t n = json_array_size(args);
    _cleanup_strv_ char **argv = xcalloc(n + 2, sizeof(char *));
    argv[0] = xstrdup(command);
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = xstrdup(json_is_string(json_array_get(args, i)) ? json_string_value(json_array_get(args, i))
                                                                      : "");
    struct proc_opts o = {.timeout_ms = CHATHOST_PROBE_TIMEOUT_MS, .max_output = CHATHOST_OUTPUT_MAX, .stdin_fd = rd};
    struct proc_result res = {0};
    int r = proc_spawn(argv, &o, &res, err);
    if (r < 0)
        return err_prefix(err, "starting the server");
    json_auto_t *init = find_response(res.out ? res.out : "", 1);
    json_auto_t *list = find_response(res.out ? res.out : "", 2);
    char why[PROC_STDERR_MAX];
    snprintf(why, sizeof(why), "%s", res.err_text);
    proc_result_free(&res);
    if (!json_is_object(json_object_get(init, "result")))
        return err_set(err, -PYRO_E_PROTOCOL, "the server did not answer initialize%s%s", why[0] ? ": " : "", why);
    json_t *t = json_object_get(json_object_get(list, "result"), "tools");
    if (!json_is_array(t))
        return err_set(err, -PYRO_E_PROTOCOL, "the server did not answer tools/list%s%s", why[0] ? ": " : "", why);
    *tools = (int)json_array_size(t);
    return 0;
}
