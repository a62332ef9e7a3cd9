/* Chat-host config editing (lib/host/chathost_*): the TOML scanner that
 * guards Codex's config.toml (valid files accepted, broken ones refused
 * with their line), reading and replacing the [mcp_servers.pyro] table
 * without touching other bytes, and the JSON merge keeping every key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "lib/host/chathost.h"

static void test_toml_valid(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "",
        "# only a comment\n",
        "model = \"o3\"\n[a.b]\nx = 1\ny = [1, 2,\n  3, # c\n]\nz = {a = 'b', c = true}\n",
        "[[arr]]\nk = \"v\"\n[\"quoted key\".x]\nd = 1979-05-27T07:32:00Z\nf = -1.5e3\n",
        "s = \"\"\"multi\nline\"\"\"\nl = '''raw\\n'''\n",
        "a.b.c = \"dotted\"\r\n",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        pyro_error err = {0};
        if (chathost_toml_check(ok[i], &err) < 0)
            fail_msg("refused case %zu: %s", i, err.message);
    }
}

static void test_toml_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"model = \"o3\"\n[mcp_servers.pyro\n", "line 2"},
        {"a = \"unterminated\n", "line 1: unterminated string"},
        {"x = [1, 2\n", "expected"},
        {"just words\n", "line 1"},
        {"a = 1 b = 2\n", "unexpected text"},
        {"a = {b = 1\n", "line 1"},
        {"[]\n", "table name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pyro_error err = {0};
        assert_int_equal(chathost_toml_check(bad[i].text, &err), -PYRO_E_INVALID);
        if (!strstr(err.message, bad[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.message, bad[i].want);
    }
}

static void test_toml_get_put(void **state)
{
    (void)state;
    const char *text = "# mine\nmodel = \"o3\"\n\n[mcp_servers.other]\ncommand = \"x\"\n\n"
                       "[mcp_servers.pyro]\ncommand = \"/old/pyro\"\nargs = [\"mcp\", \"serve\", 'lit']\n"
                       "[mcp_servers.pyro.env]\nA = \"1\"\n\n[profiles.fast]\nmodel = \"o4\" # keep\n";
    _cleanup_free_ char *cmd = NULL;
    json_t *args = NULL;
    pyro_error err = {0};
    assert_int_equal(chathost_toml_get(text, "pyro", &cmd, &args, &err), 0);
    assert_string_equal(cmd, "/old/pyro");
    assert_int_equal(json_array_size(args), 3);
    assert_string_equal(json_string_value(json_array_get(args, 2)), "lit");
    json_decref(args);

    json_auto_t *nargs = json_pack("[s,s,s]", "mcp", "serve", "quote\"back\\slash");
    _cleanup_free_ char *out = chathost_toml_put(text, "pyro", "/usr/bin/pyro", nargs);
    assert_non_null(out);
    assert_non_null(strstr(out, "# mine\nmodel = \"o3\"\n\n[mcp_servers.other]\ncommand = \"x\"\n\n"));
    assert_non_null(strstr(out, "[profiles.fast]\nmodel = \"o4\" # keep\n"));
    assert_null(strstr(out, "A = \"1\""));
    assert_null(strstr(out, "/old/pyro"));
    assert_int_equal(chathost_toml_check(out, &err), 0);
    _cleanup_free_ char *cmd2 = NULL;
    json_t *args2 = NULL;
    assert_int_equal(chathost_toml_get(out, "pyro", &cmd2, &args2, &err), 0);
    assert_string_equal(cmd2, "/usr/bin/pyro");
    assert_true(json_equal(args2, nargs));
    json_decref(args2);

    /* No table yet: appended; none at all: -ENOENT. */
    _cleanup_free_ char *added = chathost_toml_put("model = \"o3\"", "pyro", "/p", nargs);
    assert_non_null(strstr(added, "model = \"o3\"\n\n[mcp_servers.pyro]\ncommand = \"/p\"\n"));
    char *c3 = NULL;
    json_t *a3 = NULL;
    assert_int_equal(chathost_toml_get("model = 1\n", "pyro", &c3, &a3, &err), -ENOENT);
}

static void test_json_merge(void **state)
{
    (void)state;
    char dir[] = "/tmp/pyro-chathost-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *proj = xstrdup(dir);
    _cleanup_free_ char *path = xasprintf("%s/.mcp.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"z\": 1, \"mcpServers\": {\"other\": {\"command\": \"/bin/true\"}}, \"a\": [1]}", f);
    fclose(f);
    chmod(path, 0640);
    json_auto_t *args = json_pack("{s:s, s:s, s:s, s:s}", "scope", "project", "project_path", proj, "pyro_path",
                                  "/bin/sh", "mode", "inspect");
    struct chathost_target t;
    pyro_error err = {0};
    assert_int_equal(chathost_target_init(&t, CHATHOST_CLAUDE, args, &err), 0);
    assert_string_equal(t.config_path, path);
    char *backup = NULL;
    assert_int_equal(chathost_entry_write(&t, &backup, &err), 0);
    assert_non_null(backup);
    json_auto_t *doc = json_load_file(path, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(doc, "z")), 1);
    assert_non_null(json_object_get(json_object_get(doc, "mcpServers"), "other"));
    json_t *e = json_object_get(json_object_get(doc, "mcpServers"), "pyro");
    assert_string_equal(json_string_value(json_object_get(e, "command")), "/usr/bin/dash");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    json_auto_t *entry = NULL;
    assert_int_equal(chathost_entry_read(&t, &entry, &err), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(entry, "args"), 2)), "--mode");
    unlink(backup);
    free(backup);
    /* A duplicate key is invalid JSON to pyro: refused, file unchanged. */
    f = fopen(path, "w");
    fputs("{\"a\": 1, \"a\": 2}", f);
    fclose(f);
    assert_int_equal(chathost_entry_write(&t, &backup, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "not valid JSON"));
    chathost_target_clear(&t);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_toml_valid),
        cmocka_unit_test(test_toml_invalid),
        cmocka_unit_test(test_toml_get_put),
        cmocka_unit_test(test_json_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
