/* The real pyro-agent (the dynamic build) driven over a socketpair through
 * libpyro's agent client, in non-init mode: exec, file ops, tar streams,
 * kill, flush and shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_fixture.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "lib/vm/agent_client.h"
#include "proto/proto.h"

static json_t *req_new(const char *op, json_t *args)
{
    return json_pack("{s:s,s:o}", "op", op, "args", args ? args : json_object());
}

/* Calls op and expects success; returns the result. */
static json_t *call_ok(struct fx *fx, const char *op, json_t *args, struct agent_body *body)
{
    json_auto_t *req = req_new(op, args);
    json_t *res = NULL;
    pyro_error err = {0};
    int r = agent_call(fx->c, req, NULL, 0, &res, body, T_MS, &err);
    if (r < 0)
        fail_msg("%s failed: %s", op, err.message);
    return res;
}

/* Calls op and expects failure; returns the code, message in err. */
static int call_fail(struct fx *fx, const char *op, json_t *args, pyro_error *err)
{
    json_auto_t *req = req_new(op, args);
    json_t *res = NULL;
    int r = agent_call(fx->c, req, NULL, 0, &res, NULL, T_MS, err);
    if (r >= 0)
        fail_msg("%s unexpectedly succeeded", op);
    return r;
}

static json_t *sh(struct fx *fx, const char *cmd)
{
    return call_ok(fx, "exec", json_pack("{s:s}", "command", cmd), NULL);
}

static char *path_in(struct fx *fx, const char *rel)
{
    return xasprintf("%s/%s", fx->root, rel);
}

static void test_handshake(void **state)
{
    struct fx *fx = *state;
    const json_t *h = agent_conn_hello(fx->c);
    pyro_error err = {0};
    assert_int_equal(json_get_int(h, "version", 0), PROTO_VERSION);
    assert_false(json_get_bool(h, "init", true));
    assert_int_equal(json_get_int(h, "pid", 0), fx->pid);
    assert_true(agent_conn_has_op(fx->c, "exec"));
    assert_true(agent_conn_has_op(fx->c, "tar_in"));
    assert_true(agent_conn_has_op(fx->c, "shell_open"));
    assert_false(agent_conn_has_op(fx->c, "shell_resize"));
    assert_int_equal(json_array_size(json_object_get(h, "reserved_ops")) > 0, 1);
    assert_int_equal(json_get_int(json_object_get(h, "limits"), "body_max", 0), PROTO_BODY_MAX);
    assert_int_equal(call_fail(fx, "shell_resize", NULL, &err), -PYRO_E_UNSUPPORTED);
    assert_int_equal(call_fail(fx, "no_such_op", NULL, &err), -PYRO_E_UNSUPPORTED);
    json_auto_t *r = call_ok(fx, "ping", NULL, NULL);
    assert_int_equal(json_get_int(r, "pid", 0), fx->pid);
}

static void test_exec_basics(void **state)
{
    struct fx *fx = *state;
    pyro_error err = {0};
    json_auto_t *r = sh(fx, "echo out; echo err >&2; exit 3");
    assert_int_equal(json_get_int(r, "exit_code", -1), 3);
    assert_string_equal(json_get_str(r, "stdout", ""), "out\n");
    assert_string_equal(json_get_str(r, "stderr", ""), "err\n");
    assert_false(json_get_bool(r, "timed_out", true));
    assert_true(json_get_int(r, "duration_ms", -1) >= 0);

    json_auto_t *f = call_ok(fx, "exec", json_pack("{s:[s]}", "argv", "false"), NULL);
    assert_int_equal(json_get_int(f, "exit_code", -1), 1);
    json_auto_t *s = sh(fx, "kill -TERM $$");
    assert_int_equal(json_get_int(s, "exit_code", -1), 128 + SIGTERM);
    assert_int_equal(json_get_int(s, "signal", -1), SIGTERM);
    json_auto_t *m = call_ok(fx, "exec", json_pack("{s:[s]}", "argv", "/nonexistent/binary"), NULL);
    assert_int_equal(json_get_int(m, "exit_code", -1), 127);
    assert_non_null(strstr(json_get_str(m, "stderr", ""), "No such file"));

    /* cwd, env, own session, and no inherited descriptors. */
    json_auto_t *e = call_ok(fx, "exec",
                             json_pack("{s:s,s:s,s:{s:s}}", "command",
                                       "pwd; echo \"$FOO\"; test $$ -eq $(ps -o sid= -p $$) && echo leader;"
                                       " ls /proc/self/fd | tr '\\n' ' '",
                                       "cwd", fx->root, "env", "FOO", "bar baz"),
                             NULL);
    _cleanup_free_ char *want = xasprintf("%s\nbar baz\nleader\n0 1 2 3 ", fx->root);
    assert_string_equal(json_get_str(e, "stdout", ""), want);
    assert_int_equal(call_fail(fx, "exec", json_pack("{s:s,s:s}", "command", "true", "cwd", "/nonexistent"), &err),
                     -ENOENT);
    assert_int_equal(call_fail(fx, "exec", json_pack("{s:s,s:[s]}", "command", "true", "argv", "true"), &err),
                     -PYRO_E_INVALID);
}

static bool process_gone(pid_t pid)
{
    for (int i = 0; i < 100; i++) {
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return true;
        usleep(20000);
    }
    return false;
}

static void test_exec_timeout_kills_group(void **state)
{
    struct fx *fx = *state;
    _cleanup_free_ char *cmd = xasprintf("trap '' TERM; (trap '' TERM; exec sleep 30) & echo $! > %s/bg.pid; "
                                         "sleep 30; echo never",
                                         fx->root);
    int64_t t0 = time_mono_ms();
    json_auto_t *r = call_ok(fx, "exec", json_pack("{s:s,s:i}", "command", cmd, "timeout_ms", 400), NULL);
    int64_t took = time_mono_ms() - t0;
    assert_true(json_get_bool(r, "timed_out", false));
    assert_int_equal(json_get_int(r, "exit_code", -1), 128 + SIGKILL);
    assert_string_equal(json_get_str(r, "stdout", "x"), "");
    assert_true(took >= 400 && took < 5000);
    _cleanup_free_ char *pidfile = path_in(fx, "bg.pid");
    _cleanup_fclose_ FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    int bg = 0;
    assert_int_equal(fscanf(f, "%d", &bg), 1);
    assert_true(bg > 1);
    assert_true(process_gone(bg));
}

static void test_exec_output_caps(void **state)
{
    struct fx *fx = *state;
    json_auto_t *r = call_ok(fx, "exec",
                             json_pack("{s:s,s:i,s:i}", "command",
                                       "head -c 100000 /dev/zero | tr '\\0' a; echo tail >&2", "stdout_max", 1000,
                                       "stderr_max", 100),
                             NULL);
    assert_int_equal(json_get_int(r, "exit_code", -1), 0);
    assert_int_equal(strlen(json_get_str(r, "stdout", "")), 1000);
    assert_true(json_get_bool(r, "stdout_truncated", false));
    assert_int_equal(json_get_int(r, "stdout_dropped_bytes", 0), 99000);
    assert_false(json_get_bool(r, "stderr_truncated", true));
    assert_int_equal(json_get_int(r, "stderr_dropped_bytes", -1), 0);
    assert_string_equal(json_get_str(r, "stderr", ""), "tail\n");
}

static void test_exec_invalid_utf8(void **state)
{
    struct fx *fx = *state;
    json_auto_t *r = sh(fx, "printf 'a\\377b\\300'; printf '\\303\\251' >&2");
    const char *out = json_get_str(r, "stdout", "");
    assert_true(utf8_valid(out, strlen(out)));
    assert_string_equal(out, "a\xEF\xBF\xBD"
                             "b\xEF\xBF\xBD");
    assert_int_equal(json_get_int(r, "stdout_replaced", 0), 2);
    assert_string_equal(json_get_str(r, "stderr", ""), "\xc3\xa9");
    assert_int_equal(json_get_int(r, "stderr_replaced", -1), 0);
}

static void test_exec_concurrent(void **state)
{
    struct fx *fx = *state;
    pyro_error err = {0};
    json_auto_t *slow = req_new("exec", json_pack("{s:s}", "command", "sleep 1; echo slow"));
    json_auto_t *fast = req_new("exec", json_pack("{s:s}", "command", "echo fast"));
    int64_t id_slow, id_fast;
    int64_t t0 = time_mono_ms();
    assert_int_equal(agent_send_request(fx->c, slow, NULL, 0, &id_slow, &err), 0);
    assert_int_equal(agent_send_request(fx->c, fast, NULL, 0, &id_fast, &err), 0);
    assert_true(id_slow != id_fast);
    /* A file op is answered while the slow exec runs, too. */
    json_auto_t *p = call_ok(fx, "ping", NULL, NULL);
    assert_int_equal(json_get_int(p, "pid", 0), fx->pid);
    json_auto_t *rf = NULL, *rs = NULL;
    assert_int_equal(agent_wait(fx->c, id_fast, &rf, NULL, T_MS, &err), 0);
    assert_true(time_mono_ms() - t0 < 900);
    assert_string_equal(json_get_str(rf, "stdout", ""), "fast\n");
    assert_int_equal(agent_wait(fx->c, id_slow, &rs, NULL, T_MS, &err), 0);
    assert_string_equal(json_get_str(rs, "stdout", ""), "slow\n");
    assert_true(time_mono_ms() - t0 >= 1000);
    /* A short wait times out and the late answer is dropped. */
    json_auto_t *late = req_new("exec", json_pack("{s:s}", "command", "sleep 0.3"));
    int64_t id_late;
    assert_int_equal(agent_send_request(fx->c, late, NULL, 0, &id_late, &err), 0);
    assert_int_equal(agent_wait(fx->c, id_late, NULL, NULL, 50, &err), -PYRO_E_TIMEOUT);
    usleep(400000);
    json_auto_t *p2 = call_ok(fx, "ping", NULL, NULL);
    assert_non_null(p2);
    assert_int_equal(agent_wait(fx->c, id_late, NULL, NULL, 50, &err), -PYRO_E_NOT_FOUND);
}

static void test_kill(void **state)
{
    struct fx *fx = *state;
    pyro_error err = {0};
    json_auto_t *req = req_new("exec", json_pack("{s:s}", "command", "sleep 30"));
    int64_t id;
    assert_int_equal(agent_send_request(fx->c, req, NULL, 0, &id, &err), 0);
    usleep(100000);
    json_auto_t *k = call_ok(fx, "kill", json_pack("{s:I,s:s}", "target", (json_int_t)id, "signal", "TERM"), NULL);
    assert_int_equal(json_get_int(k, "signal", 0), SIGTERM);
    json_auto_t *r = NULL;
    assert_int_equal(agent_wait(fx->c, id, &r, NULL, 5000, &err), 0);
    assert_int_equal(json_get_int(r, "exit_code", -1), 128 + SIGTERM);
    assert_false(json_get_bool(r, "timed_out", true));
    assert_int_equal(call_fail(fx, "kill", json_pack("{s:i}", "target", 999999), &err), -PYRO_E_NOT_FOUND);
}

static void test_file_ops(void **state)
{
    struct fx *fx = *state;
    pyro_error err = {0};
    json_auto_t *req = req_new("file_write",
                               json_pack("{s:s,s:s,s:i}", "root", fx->root, "path", "dir/sub/hello.txt", "mode", 0600));
    json_t *res = NULL;
    assert_int_equal(agent_call(fx->c, req, "hello\n", 6, &res, NULL, T_MS, &err), 0);
    assert_int_equal(json_get_int(res, "bytes", 0), 6);
    json_decref(res);

    struct agent_body body = {0};
    json_auto_t *rd = call_ok(fx, "file_read", json_pack("{s:s,s:s}", "root", fx->root, "path", "dir/sub/hello.txt"),
                              &body);
    assert_int_equal(body.len, 6);
    assert_memory_equal(body.data, "hello\n", 6);
    assert_false(json_get_bool(rd, "truncated", true));
    agent_body_free(&body);
    json_auto_t *part = call_ok(fx, "file_read",
                                json_pack("{s:s,s:s,s:i,s:i}", "root", fx->root, "path", "dir/sub/hello.txt", "offset",
                                          1, "max_bytes", 3),
                                &body);
    assert_int_equal(body.len, 3);
    assert_memory_equal(body.data, "ell", 3);
    assert_true(json_get_bool(part, "truncated", false));
    agent_body_free(&body);

    json_auto_t *st = call_ok(fx, "file_stat", json_pack("{s:s,s:s}", "root", fx->root, "path", "dir/sub/hello.txt"),
                              NULL);
    assert_string_equal(json_get_str(st, "type", ""), "file");
    assert_int_equal(json_get_int(st, "size", 0), 6);
    assert_int_equal(json_get_int(st, "mode", 0), 0600);

    json_auto_t *ls = call_ok(fx, "file_list",
                              json_pack("{s:s,s:s,s:b}", "root", fx->root, "path", "dir", "recursive", 1), NULL);
    const json_t *entries = json_object_get(ls, "entries");
    assert_int_equal(json_array_size(entries), 2);
    assert_string_equal(json_get_str(json_array_get(entries, 0), "path", ""), "dir/sub");
    assert_string_equal(json_get_str(json_array_get(entries, 1), "path", ""), "dir/sub/hello.txt");

    /* A large write is streamed automatically. */
    size_t big = 3u * 1024 * 1024 + 17;
    _cleanup_free_ uint8_t *data = xmalloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 7);
    json_auto_t *wreq = req_new("file_write", json_pack("{s:s,s:s}", "root", fx->root, "path", "big.bin"));
    assert_int_equal(agent_call(fx->c, wreq, data, big, &res, NULL, T_MS, &err), 0);
    assert_int_equal(json_get_int(res, "bytes", 0), (long long)big);
    json_decref(res);
    json_auto_t *bst = call_ok(fx, "file_stat", json_pack("{s:s,s:s}", "root", fx->root, "path", "big.bin"), NULL);
    assert_int_equal(json_get_int(bst, "size", 0), (long long)big);
    json_auto_t *tail = call_ok(fx, "file_read",
                                json_pack("{s:s,s:s,s:I}", "root", fx->root, "path", "big.bin", "offset",
                                          (json_int_t)big - 100),
                                &body);
    assert_int_equal(body.len, 100);
    assert_int_equal(json_get_int(tail, "offset", 0), (long long)big - 100);
    assert_memory_equal(body.data, data + big - 100, 100);
    agent_body_free(&body);
    assert_int_equal(call_fail(fx, "file_stat", json_pack("{s:s,s:s}", "root", fx->root, "path", "missing"), &err),
                     -ENOENT);
}

static void test_file_confinement(void **state)
{
    struct fx *fx = *state;
    pyro_error err = {0};
    _cleanup_free_ char *esc = path_in(fx, "esc"), *up = path_in(fx, "up"), *outside = NULL;
    assert_int_equal(symlink("/etc", esc), 0);
    assert_int_equal(symlink("..", up), 0);
    static const char *const bad[] = {"../etc/passwd", "a/../../etc/passwd", "/etc/passwd", "esc/passwd", "up/x"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int r = call_fail(fx, "file_read", json_pack("{s:s,s:s}", "root", fx->root, "path", bad[i]), &err);
        if (r != -PYRO_E_INVALID)
            fail_msg("file_read %s: %d %s", bad[i], r, err.message);
    }
    json_auto_t *w = req_new("file_write", json_pack("{s:s,s:s}", "root", fx->root, "path", "up/pwned.txt"));
    assert_int_equal(agent_call(fx->c, w, "x", 1, NULL, NULL, T_MS, &err), -PYRO_E_INVALID);
    outside = xasprintf("%s/../pwned.txt", fx->root);
    assert_int_equal(access(outside, F_OK), -1);
    /* A symlink as the final component is not written through. */
    json_auto_t *w2 = req_new("file_write", json_pack("{s:s,s:s,s:b}", "root", fx->root, "path", "esc", "append", 1));
    assert_int_equal(agent_call(fx->c, w2, "x", 1, NULL, NULL, T_MS, &err), -PYRO_E_INVALID);
    json_auto_t *st = call_ok(fx, "file_stat", json_pack("{s:s,s:s}", "root", fx->root, "path", "esc"), NULL);
    assert_string_equal(json_get_str(st, "type", ""), "symlink");
    assert_string_equal(json_get_str(st, "link_target", ""), "/etc");
}

static void test_fs_flush(void **state)
{
    struct fx *fx = *state;
    json_auto_t *r = call_ok(fx, "fs_flush", json_pack("{s:s}", "root", fx->root), NULL);
    assert_true(json_get_bool(r, "flushed", false));
}

static void test_shutdown(void **state)
{
    struct fx *fx = *state;
    json_auto_t *r = call_ok(fx, "shutdown", NULL, NULL);
    assert_false(json_get_bool(r, "init", true));
    int status = 0;
    for (int i = 0; i < 250 && waitpid(fx->pid, &status, WNOHANG) == 0; i++)
        usleep(20000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_garbage_ends_channel(void **state)
{
    struct fx *fx = *state;
    int fd = -1;
    /* A second agent whose channel gets garbage gives up with status 1. */
    pid_t pid = agent_fx_spawn(&fd);
    assert_true(pid > 0);
    assert_int_equal(write(fd, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    close(fd);
    (void)fx;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshake, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_exec_basics, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_exec_timeout_kills_group, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_exec_output_caps, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_exec_invalid_utf8, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_exec_concurrent, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_kill, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_file_ops, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_file_confinement, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_fs_flush, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_ends_channel, agent_fx_setup, agent_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
