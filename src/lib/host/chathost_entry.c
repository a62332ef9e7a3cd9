/* The pyro entry in each chat host's config: where the file is for a
 * scope, the canonical server command line, and reading and merging the
 * entry into JSON (Claude Code, OpenCode) or TOML (Codex) files. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "lib/host/chathost.h"

static const char *const names[CHATHOST_COUNT] = {"claude-code", "codex", "opencode"};
static const char *const programs[CHATHOST_COUNT] = {"claude", "codex", "opencode"};

const char *chathost_name(enum chathost_kind k)
{
    return names[k];
}

const char *chathost_program(enum chathost_kind k)
{
    return programs[k];
}

int chathost_find(const char *name)
{
    for (int i = 0; i < CHATHOST_COUNT; i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

static char *env_dir(const char *var, const char *home_rel, pyro_error *err)
{
    const char *v = getenv(var);
    if (v && v[0] == '/')
        return xstrdup(v);
    const char *home = getenv("HOME");
    if (!home || home[0] != '/') {
        err_set(err, -PYRO_E_INVALID, "HOME is not set to an absolute path: cannot find the host's config");
        return NULL;
    }
    return xasprintf("%s/%s", home, home_rel);
}

static char *abs_path(const char *p, pyro_error *err)
{
    char buf[PATH_MAX];
    if (!realpath(p, buf)) {
        err_errno(err, errno, "%s", p);
        return NULL;
    }
    return xstrdup(buf);
}

int chathost_target_locate(struct chathost_target *t, pyro_error *err)
{
    _cleanup_free_ char *dir = NULL;
    free(t->config_path);
    t->config_path = NULL;
    switch (t->kind) {
    case CHATHOST_CLAUDE:
        if (t->project) {
            t->config_path = xasprintf("%s/.mcp.json", t->project_dir);
            return 0;
        }
        dir = env_dir("CLAUDE_CONFIG_DIR", "", err);
        if (!dir)
            return err ? err->code : -EINVAL;
        t->config_path = getenv("CLAUDE_CONFIG_DIR") ? xasprintf("%s/.claude.json", dir)
                                                     : xasprintf("%s.claude.json", dir);
        return 0;
    case CHATHOST_CODEX:
        if (t->project)
            return err_set(err, -PYRO_E_INVALID, "codex keeps MCP servers in the user's config only: use --scope user");
        dir = env_dir("CODEX_HOME", ".codex", err);
        if (!dir)
            return err ? err->code : -EINVAL;
        t->config_path = xasprintf("%s/config.toml", dir);
        return 0;
    case CHATHOST_OPENCODE: {
        if (t->project) {
            t->config_path = xasprintf("%s/opencode.json", t->project_dir);
            return 0;
        }
        dir = env_dir("XDG_CONFIG_HOME", ".config", err);
        if (!dir)
            return err ? err->code : -EINVAL;
        t->config_path = xasprintf("%s/opencode/opencode.json", dir);
        /* OpenCode's own `mcp add` writes opencode.jsonc when neither exists. */
        _cleanup_free_ char *jsonc = xasprintf("%s/opencode/opencode.jsonc", dir);
        if (access(t->config_path, F_OK) < 0 && access(jsonc, F_OK) == 0) {
            free(t->config_path);
            t->config_path = TAKE_PTR(jsonc);
        }
        return 0;
    }
    case CHATHOST_COUNT:
    default: return err_set(err, -PYRO_E_INVALID, "unknown host");
    }
}

static void append2(json_t *a, const char *x, const char *y)
{
    json_array_append_new(a, json_string(x));
    json_array_append_new(a, json_string(y));
}

int chathost_target_init(struct chathost_target *t, enum chathost_kind k, const json_t *args, pyro_error *err)
{
    memset(t, 0, sizeof(*t));
    t->kind = k;
    t->project = !strcmp(json_get_str(args, "scope", "user"), "project");
    const char *pp = json_get_str(args, "project_path", NULL);
    if (pp) {
        t->project_dir = abs_path(pp, err);
        if (!t->project_dir)
            return err_prefix(err, "--project-path");
    } else if (t->project) {
        t->project_dir = abs_path(".", err);
        if (!t->project_dir)
            return err->code;
    }
    const char *pyro = json_get_str(args, "pyro_path", NULL);
    t->command = abs_path(pyro ? pyro : "/proc/self/exe", err);
    if (!t->command)
        return err_prefix(err, "the pyro binary");
    t->args = json_pack("[s,s]", "mcp", "serve");
    const char *mode = json_get_str(args, "mode", NULL);
    const char *profile = json_get_str(args, "profile", NULL);
    if (mode && profile)
        return err_set(err, -PYRO_E_INVALID, "--mode and --profile exclude each other (a mode is a narrowed profile)");
    if (mode)
        append2(t->args, "--mode", mode);
    else if (profile)
        append2(t->args, "--profile", profile);
    if (pp)
        append2(t->args, "--project-path", t->project_dir);
    return chathost_target_locate(t, err);
}

void chathost_target_clear(struct chathost_target *t)
{
    free(t->project_dir);
    free(t->config_path);
    free(t->command);
    json_decref(t->args);
    memset(t, 0, sizeof(*t));
}

/* The host's JSON object holding servers: mcpServers or mcp. */
static const char *servers_key(enum chathost_kind k)
{
    return k == CHATHOST_OPENCODE ? "mcp" : "mcpServers";
}

static json_t *json_entry(const struct chathost_target *t)
{
    if (t->kind == CHATHOST_OPENCODE) {
        json_t *cmd = json_pack("[s]", t->command);
        json_array_extend(cmd, t->args);
        return json_pack("{s:s, s:o, s:b}", "type", "local", "command", cmd, "enabled", 1);
    }
    return json_pack("{s:s, s:s, s:O, s:{}}", "type", "stdio", "command", t->command, "args", t->args, "env");
}

static int load_json(const struct chathost_target *t, const char *text, json_t **out, pyro_error *err)
{
    json_error_t je;
    *out = json_loads(text ? text : "{}", JSON_REJECT_DUPLICATES, &je);
    if (!*out)
        return err_set(err, -PYRO_E_INVALID, "%s is not valid JSON (line %d: %s): not changed%s", t->config_path,
                       je.line, je.text,
                       strstr(t->config_path, ".jsonc") ? " (pyro cannot merge JSONC comments: use the host's CLI)"
                                                        : "");
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return err_set(err, -PYRO_E_INVALID, "%s does not hold a JSON object: not changed", t->config_path);
    }
    return 0;
}

int chathost_entry_read(const struct chathost_target *t, json_t **entry, pyro_error *err)
{
    *entry = NULL;
    _cleanup_free_ char *text = NULL;
    int r = chathost_file_read(t->config_path, &text, err);
    if (r < 0)
        return r;
    if (!text)
        return -ENOENT;
    if (t->kind == CHATHOST_CODEX) {
        _cleanup_free_ char *command = NULL;
        json_t *args = NULL;
        r = chathost_toml_get(text, CHATHOST_SERVER_NAME, &command, &args, err);
        if (r < 0)
            return r;
        *entry = json_pack("{s:s?, s:o}", "command", command, "args", args);
        return 0;
    }
    json_auto_t *doc = NULL;
    r = load_json(t, text, &doc, err);
    if (r < 0)
        return r;
    json_t *e = json_object_get(json_object_get(doc, servers_key(t->kind)), CHATHOST_SERVER_NAME);
    if (!e)
        return -ENOENT;
    if (t->kind == CHATHOST_OPENCODE) {
        json_t *cmd = json_object_get(e, "command");
        json_t *rest = json_array();
        for (size_t i = 1; i < json_array_size(cmd); i++)
            json_array_append(rest, json_array_get(cmd, i));
        *entry = json_pack("{s:O?, s:o}", "command", json_array_get(cmd, 0), "args", rest);
        return 0;
    }
    json_t *args = json_object_get(e, "args");
    *entry = json_pack("{s:O?, s:O}", "command", json_object_get(e, "command"), "args",
                       json_is_array(args) ? args : json_array());
    return 0;
}

int chathost_entry_write(const struct chathost_target *t, char **backup, pyro_error *err)
{
    *backup = NULL;
    _cleanup_free_ char *text = NULL;
    int r = chathost_file_read(t->config_path, &text, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *out = NULL;
    if (t->kind == CHATHOST_CODEX) {
        if (text && chathost_toml_check(text, err) < 0)
            return err_prefix(err, "%s: not changed", t->config_path);
        out = chathost_toml_put(text, CHATHOST_SERVER_NAME, t->command, t->args);
    } else {
        json_auto_t *doc = NULL;
        r = load_json(t, text, &doc, err);
        if (r < 0)
            return r;
        json_t *servers = json_object_get(doc, servers_key(t->kind));
        if (servers && !json_is_object(servers))
            return err_set(err, -PYRO_E_INVALID, "%s: \"%s\" is not an object: not changed", t->config_path,
                           servers_key(t->kind));
        if (!servers) {
            servers = json_object();
            json_object_set_new(doc, servers_key(t->kind), servers);
        }
        if (t->kind == CHATHOST_OPENCODE && !json_object_get(doc, "$schema"))
            json_object_set_new(doc, "$schema", json_string("https://opencode.ai/config.json"));
        json_object_set_new(servers, CHATHOST_SERVER_NAME, json_entry(t));
        char *d = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        out = xasprintf("%s\n", d);
        free(d);
    }
    return chathost_file_write(t->config_path, out, backup, err);
}

char *chathost_snippet(const struct chathost_target *t)
{
    if (t->kind == CHATHOST_CODEX)
        return chathost_toml_table(CHATHOST_SERVER_NAME, t->command, t->args);
    json_auto_t *doc = json_object();
    if (t->kind == CHATHOST_OPENCODE)
        json_object_set_new(doc, "$schema", json_string("https://opencode.ai/config.json"));
    json_object_set_new(doc, servers_key(t->kind), json_pack("{s:o}", CHATHOST_SERVER_NAME, json_entry(t)));
    char *d = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    char *s = xasprintf("%s\n", d);
    free(d);
    return s;
}
