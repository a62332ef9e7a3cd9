/* The agent's PTY shells (agent/shell.c) driven over the real protocol in
 * non-init mode: interactive input, cursors across a truncated ring,
 * idle waits, signals to the foreground group, exit status, the shell cap,
 * bad input, and a flood that stays bounded. Plain rendering
 * (lib/workspace/shell_render.c) is checked on its own. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_fixture.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "lib/vm/agent_client.h"
#include "lib/workspace/shell_render.h"
#include "proto/proto.h"

static json_t *call(struct fx *fx, const char *op, json_t *args, struct agent_body *body, int *rc, pyro_error *err)
{
    json_auto_t *req = json_pack("{s:s,s:o}", "op", op, "args", args ? args : json_object());
    json_t *res = NULL;
    *rc = agent_call(fx->c, req, NULL, 0, &res, body, T_MS + 40000, err);
    return res;
}

static json_t *call_ok(struct fx *fx, const char *op, json_t *args, struct agent_body *body)
{
    pyro_error err = {0};
    int rc;
    json_t *res = call(fx, op, args, body, &rc, &err);
    if (rc < 0)
        fail_msg("%s failed: %s", op, err.message);
    return res;
}

static int call_fail(struct fx *fx, const char *op, json_t *args, pyro_error *err)
{
    int rc;
    json_t *res = call(fx, op, args, NULL, &rc, err);
    json_decref(res);
    if (rc >= 0)
        fail_msg("%s unexpectedly succeeded", op);
    return rc;
}

static char *open_shell(struct fx *fx)
{
    /* HOME in the scratch directory: the host's ~/.bashrc (slow here) is
     * not read, and env reaches the shell. */
    json_auto_t *r = call_ok(fx, "shell_open",
                             json_pack("{s:s,s:i,s:i,s:{s:s}}", "cwd", fx->root, "cols", 80, "rows", 24, "env", "HOME",
                                       fx->root),
                             NULL);
    assert_string_equal(json_get_str(r, "state", ""), "running");
    assert_int_equal(json_get_int(r, "cols", 0), 80);
    return xstrdup(json_get_str(r, "shell_id", ""));
}

static void write_line(struct fx *fx, const char *id, const char *text)
{
    _cleanup_free_ char *line = xasprintf("%s\n", text);
    json_decref(call_ok(fx, "shell_write", json_pack("{s:s,s:s}", "shell_id", id, "input", line), NULL));
}

/* Reads from *cursor until the output holds want (or 20 s pass); returns
 * everything read, *cursor at the end. */
static char *read_until(struct fx *fx, const char *id, uint64_t *cursor, const char *want)
{
    char *all = xstrdup("");
    int64_t end = time_mono_ms() + 20000;
    while (!strstr(all, want) && time_mono_ms() < end) {
        struct agent_body b = {0};
        json_auto_t *r = call_ok(fx, "shell_read",
                                 json_pack("{s:s,s:I,s:i}", "shell_id", id, "cursor", (json_int_t)*cursor,
                                           "wait_for_idle_ms", 100),
                                 &b);
        assert_int_equal(json_get_int(r, "cursor", -1), (long long)*cursor);
        *cursor = (uint64_t)json_get_int(r, "next_cursor", 0);
        char *n = xasprintf("%s%.*s", all, (int)b.len, b.len ? (const char *)b.data : "");
        free(all);
        all = n;
        agent_body_free(&b);
    }
    if (!strstr(all, want))
        fail_msg("no '%s' in the shell's output: %s", want, all);
    return all;
}

static void test_interactive(void **state)
{
    struct fx *fx = *state;
    _cleanup_free_ char *id = open_shell(fx);
    uint64_t cur = 0;
    /* The terminal echoes what is typed: what is waited for is only in
     * the command's output ($((6*7))). */
    write_line(fx, id, "read -r -p \"name$((6*7))? \" n; echo \"hello-$n\"");
    free(read_until(fx, id, &cur, "name42? "));
    write_line(fx, id, "bob");
    free(read_until(fx, id, &cur, "hello-bob"));
    /* The working directory is the one asked for, TERM a real terminal's. */
    write_line(fx, id, "echo \"at=$PWD term=$TERM home=$HOME tty=$(tty)\"");
    _cleanup_free_ char *out = read_until(fx, id, &cur, "tty=/dev/pts/");
    _cleanup_free_ char *want = xasprintf("at=%s term=xterm-256color home=%s", fx->root, fx->root);
    assert_non_null(strstr(out, want));
    /* A read from the start sees it all again: cursors are absolute. */
    struct agent_body b = {0};
    json_auto_t *r = call_ok(fx, "shell_read", json_pack("{s:s}", "shell_id", id), &b);
    assert_int_equal(json_get_int(r, "cursor", -1), 0);
    assert_false(json_get_bool(r, "truncated", true));
    assert_true(memmem(b.data, b.len, "hello-bob", 9) != NULL);
    agent_body_free(&b);
}

static void test_signal_and_exit(void **state)
{
    struct fx *fx = *state;
    _cleanup_free_ char *id = open_shell(fx);
    uint64_t cur = 0;
    /* The marker comes from the process that becomes the sleep: once it
     * shows, the sleep is the terminal's foreground group. */
    write_line(fx, id, "sh -c 'echo sleep-started; exec sleep 100'");
    free(read_until(fx, id, &cur, "sleep-started\r\n"));
    int64_t t0 = time_mono_ms();
    json_auto_t *s = call_ok(fx, "shell_signal", json_pack("{s:s,s:s}", "shell_id", id, "signal", "INT"), NULL);
    assert_string_equal(json_get_str(s, "signal", ""), "INT");
    write_line(fx, id, "echo alive-$?");
    free(read_until(fx, id, &cur, "alive-130"));
    assert_true(time_mono_ms() - t0 < 15000);
    write_line(fx, id, "exit 7");
    int64_t end = time_mono_ms() + 20000;
    json_t *r = NULL;
    do {
        json_decref(r);
        r = call_ok(fx, "shell_read",
                    json_pack("{s:s,s:I,s:i}", "shell_id", id, "cursor", (json_int_t)cur, "wait_for_idle_ms", 200),
                    NULL);
    } while (strcmp(json_get_str(r, "state", ""), "exited") && time_mono_ms() < end);
    assert_string_equal(json_get_str(r, "state", ""), "exited");
    assert_int_equal(json_get_int(r, "exit_code", -1), 7);
    json_decref(r);
    pyro_error err = {0};
    assert_int_equal(call_fail(fx, "shell_signal", json_pack("{s:s}", "shell_id", id), &err), -PYRO_E_STATE);
    assert_int_equal(call_fail(fx, "shell_write", json_pack("{s:s,s:s}", "shell_id", id, "input", "x"), &err),
                     -PYRO_E_STATE);
    json_auto_t *c = call_ok(fx, "shell_close", json_pack("{s:s}", "shell_id", id), NULL);
    assert_string_equal(json_get_str(c, "state", ""), "closed");
    assert_int_equal(json_get_int(c, "exit_code", -1), 7);
    assert_int_equal(call_fail(fx, "shell_read", json_pack("{s:s}", "shell_id", id), &err), -PYRO_E_NOT_FOUND);
}

/* True once pid is gone or a zombie (its parent's business). */
static bool proc_ended(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'Z';
}

static void test_close_ends_jobs(void **state)
{
    struct fx *fx = *state;
    _cleanup_free_ char *id = open_shell(fx);
    uint64_t cur = 0;
    /* A background job that outlives the shell's exit, holding the
     * terminal: closing the ended shell still ends it. */
    write_line(fx, id, "sleep 1000 & echo \"bg=$((0+$!))=\"");
    _cleanup_free_ char *out = read_until(fx, id, &cur, "=\r\n");
    const char *at = strstr(out, "bg=");
    while (at && !(at[3] >= '1' && at[3] <= '9'))
        at = strstr(at + 3, "bg=");
    assert_non_null(at);
    long pid = strtol(at + 3, NULL, 10);
    assert_true(pid > 1);
    write_line(fx, id, "exit");
    int64_t end = time_mono_ms() + 20000;
    json_t *r = NULL;
    do {
        json_decref(r);
        r = call_ok(fx, "shell_read", json_pack("{s:s,s:i}", "shell_id", id, "wait_for_idle_ms", 100), NULL);
    } while (strcmp(json_get_str(r, "state", ""), "exited") && time_mono_ms() < end);
    assert_string_equal(json_get_str(r, "state", ""), "exited");
    json_decref(r);
    assert_false(proc_ended(pid));
    json_decref(call_ok(fx, "shell_close", json_pack("{s:s}", "shell_id", id), NULL));
    end = time_mono_ms() + 10000;
    while (!proc_ended(pid) && time_mono_ms() < end)
        usleep(20000);
    assert_true(proc_ended(pid));
}

static void test_truncation_and_idle(void **state)
{
    struct fx *fx = *state;
    _cleanup_free_ char *id = open_shell(fx);
    uint64_t cur = 0;
    /* 3 MiB of output: the ring keeps the last 1 MiB. */
    write_line(fx, id, "head -c 3145728 /dev/zero | tr '\\0' x; echo; echo END-OF-FLOOD");
    int64_t end = time_mono_ms() + 30000;
    json_int_t total = 0;
    for (;;) {
        json_auto_t *r = call_ok(fx, "shell_read",
                                 json_pack("{s:s,s:i,s:i}", "shell_id", id, "max_bytes", 1, "wait_for_idle_ms", 500),
                                 NULL);
        total = json_get_int(r, "end", 0);
        if (total > 3145728 || time_mono_ms() > end)
            break;
    }
    assert_true(total > 3145728);
    /* Cursor 0 fell out of the ring: the read starts at the oldest kept
     * byte and says so. */
    struct agent_body b = {0};
    json_auto_t *r = call_ok(fx, "shell_read",
                             json_pack("{s:s,s:i,s:i}", "shell_id", id, "cursor", 0, "max_bytes", PROTO_BODY_MAX), &b);
    assert_true(json_get_bool(r, "truncated", false));
    assert_int_equal(json_get_int(r, "cursor", 0), json_get_int(r, "end", 0) - 1024 * 1024);
    assert_int_equal(b.len, 1024 * 1024);
    agent_body_free(&b);
    cur = (uint64_t)(total - 100);
    _cleanup_free_ char *tail = read_until(fx, id, &cur, "END-OF-FLOOD");
    assert_non_null(strstr(tail, "END-OF-FLOOD"));
    /* A cursor past the end is refused. */
    pyro_error err = {0};
    assert_int_equal(call_fail(fx, "shell_read",
                               json_pack("{s:s,s:I}", "shell_id", id, "cursor", (json_int_t)(total + 1000000)), &err),
                     -PYRO_E_INVALID);
    /* An idle wait on a quiet shell answers after about its idle time. */
    int64_t t0 = time_mono_ms();
    json_decref(call_ok(fx, "shell_read", json_pack("{s:s,s:i}", "shell_id", id, "wait_for_idle_ms", 400), NULL));
    int64_t took = time_mono_ms() - t0;
    assert_true(took >= 350 && took < 5000);
}

static void test_flood_bounded(void **state)
{
    struct fx *fx = *state;
    _cleanup_free_ char *id = open_shell(fx);
    write_line(fx, id, "yes");
    usleep(1500 * 1000);
    /* A shell that never goes quiet: the idle wait ends at its deadline at
     * the latest, and a read returns at most what was asked. */
    int64_t t0 = time_mono_ms();
    struct agent_body b = {0};
    json_auto_t *r = call_ok(fx, "shell_read",
                             json_pack("{s:s,s:i,s:i,s:i}", "shell_id", id, "cursor", 0, "max_bytes", 4096,
                                       "wait_for_idle_ms", 200),
                             &b);
    assert_true(time_mono_ms() - t0 < 35000);
    assert_non_null(r);
    assert_true(b.len <= 4096);
    agent_body_free(&b);
    /* Other requests are still served while it floods. */
    json_decref(call_ok(fx, "ping", NULL, NULL));
    json_auto_t *c = call_ok(fx, "shell_close", json_pack("{s:s}", "shell_id", id), NULL);
    assert_int_equal(json_get_int(c, "closed", 0), 1);
}

static void test_bad_input_and_cap(void **state)
{
    struct fx *fx = *state;
    pyro_error err = {0};
    assert_int_equal(call_fail(fx, "shell_open", json_pack("{s:i}", "cols", 0), &err), -PYRO_E_INVALID);
    assert_int_equal(call_fail(fx, "shell_open", json_pack("{s:i}", "rows", 5000), &err), -PYRO_E_INVALID);
    assert_int_equal(call_fail(fx, "shell_open", json_pack("{s:s}", "cwd", "/nonexistent-dir"), &err), -ENOENT);
    assert_int_equal(call_fail(fx, "shell_read", json_pack("{s:s}", "shell_id", "shell-42"), &err), -PYRO_E_NOT_FOUND);
    assert_int_equal(call_fail(fx, "shell_close", json_pack("{s:i}", "shell_id", 3), &err), -PYRO_E_INVALID);
    char *ids[8];
    for (int i = 0; i < 8; i++)
        ids[i] = open_shell(fx);
    assert_int_equal(call_fail(fx, "shell_open", json_pack("{s:s}", "cwd", fx->root), &err), -PYRO_E_LIMIT);
    assert_non_null(strstr(err.message, "8 shells"));
    assert_int_equal(call_fail(fx, "shell_signal", json_pack("{s:s,s:s}", "shell_id", ids[0], "signal", "USR1"), &err),
                     -PYRO_E_INVALID);
    assert_int_equal(call_fail(fx, "shell_read", json_pack("{s:s,s:i}", "shell_id", ids[0], "wait_for_idle_ms", 10001),
                               &err),
                     -PYRO_E_INVALID);
    assert_int_equal(call_fail(fx, "shell_read", json_pack("{s:s,s:i}", "shell_id", ids[0], "max_bytes", 0), &err),
                     -PYRO_E_INVALID);
    json_auto_t *c = call_ok(fx, "shell_close", json_pack("{s:b}", "all", 1), NULL);
    assert_int_equal(json_get_int(c, "closed", 0), 8);
    for (int i = 0; i < 8; i++)
        free(ids[i]);
    /* Closed shells free their places. */
    _cleanup_free_ char *again = open_shell(fx);
    assert_string_equal(again, "shell-9");
}

static void check_plain(const char *in, const char *want)
{
    size_t n;
    _cleanup_free_ char *out = shell_render_plain(in, strlen(in), &n);
    assert_int_equal(n, strlen(out));
    assert_string_equal(out, want);
}

static void test_plain_render(void **state)
{
    (void)state;
    check_plain("\033[1;31mred\033[0m plain\r\n", "red plain\n");
    check_plain("10%\r50%\r100%\n", "100%\n");
    check_plain("abc\b\bX\n", "aXc\n");
    check_plain("\033]0;title\007prompt$ ", "prompt$ ");
    check_plain("\033]8;;http://x\033\\link\033]8;;\033\\\n", "link\n");
    check_plain("\033(Bx\033)0y", "xy");
    check_plain("long line\r\033[Kshort\n", "short\n");
    check_plain("keep this\rnew\033[2K!\n", "   !\n");
    check_plain("bell\007\x0e\x0f\n", "bell\n");
    check_plain("caf\xc3\xa9 \xff!\n", "caf\xc3\xa9 \xef\xbf\xbd!\n");
    check_plain("cut \033[3", "cut ");
    check_plain("\033[?2004hroot# ", "root# ");
    check_plain("a\tb\n", "a\tb\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_render),
        cmocka_unit_test_setup_teardown(test_interactive, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_signal_and_exit, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_ends_jobs, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_truncation_and_idle, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_flood_bounded, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_and_cap, agent_fx_setup, agent_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
