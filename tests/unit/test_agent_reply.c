/* Agent replies are untrusted input: every malformed or forged reply the
 * host can receive (missing keys, wrong types, values out of range,
 * oversized or invalid text, unknown keys, fields that contradict each
 * other) is an error with a clear message, never a crash; over a real
 * channel the connection stays usable after one. And the real agent's
 * replies satisfy the same declarations. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_fixture.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "lib/contract/contract.h"
#include "lib/vm/agent_client.h"
#include "proto/exec.h"
#include "proto/proto.h"
#include "proto/reply.h"

/* A well-formed exec result. */
static json_t *exec_result(void)
{
    return json_pack("{s:i, s:s, s:s, s:b, s:b, s:i, s:i, s:i, s:i, s:b, s:i, s:i}", "exit_code", 3, "stdout", "out\n",
                     "stderr", "", "stdout_truncated", 0, "stderr_truncated", 0, "stdout_dropped_bytes", 0,
                     "stderr_dropped_bytes", 0, "stdout_replaced", 0, "stderr_replaced", 0, "timed_out", 0,
                     "duration_ms", 12, "pid", 4242);
}

static json_t *resp_ok(json_t *result)
{
    json_t *h = proto_header_new(PROTO_RESP, 7);
    json_set(h, "ok", json_true());
    if (result)
        json_set(h, "result", result);
    return h;
}

/* Expects the reply to op to be refused with a message naming needle. */
static void refused(const char *op, json_t *resp, size_t body_len, const char *needle)
{
    pyro_error err = {0};
    json_t *res = (json_t *)0x1;
    int r = agent_reply_unpack(op, resp, body_len, &res, &err);
    if (r != -PYRO_E_PROTOCOL)
        fail_msg("%s reply accepted (%d): %s", op, r, json_dumps(resp, JSON_COMPACT));
    assert_ptr_equal(res, (json_t *)0x1); /* nothing handed out */
    if (!strstr(err.message, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
    assert_true(utf8_valid(err.message, strlen(err.message)));
    json_decref(resp);
}

static void test_valid_exec(void **state)
{
    json_auto_t *h = resp_ok(exec_result());
    json_t *res = NULL;
    pyro_error err = {0};
    assert_int_equal(agent_reply_unpack("exec", h, 0, &res, &err), 0);
    struct proto_exec_result r;
    assert_int_equal(proto_exec_result_unpack(res, NULL, &r, &err), 0);
    assert_int_equal(r.exit_code, 3);
    assert_int_equal(r.out.len, 4);
    assert_memory_equal(r.out.text, "out\n", 4);
    assert_int_equal(r.pid, 4242);
    assert_int_equal(r.signal, 0);
    /* The public part leaves pid out; signal only when there is one. */
    json_auto_t *pub = json_object();
    proto_exec_result_pack(&r, true, pub);
    assert_null(json_object_get(pub, "pid"));
    assert_null(json_object_get(pub, "signal"));
    assert_int_equal(json_get_int(pub, "stdout_replaced", -1), 0);
    proto_exec_result_clear(&r);
    json_decref(res);
}

/* exec results with one thing wrong each. */
static void test_malformed_exec(void **state)
{
    static const struct {
        const char *key, *json, *needle;
    } bad[] = {
        {"exit_code", NULL, "result.exit_code: missing"},
        {"stdout", NULL, "result.stdout: missing"},
        {"stderr_replaced", NULL, "result.stderr_replaced: missing"},
        {"exit_code", "\"0\"", "result.exit_code: a string, expected an integer"},
        {"exit_code", "1.5", "result.exit_code: a number, expected an integer"},
        {"exit_code", "1000", "result.exit_code: 1000 is outside"},
        {"exit_code", "-1", "result.exit_code: -1 is outside"},
        {"stdout", "42", "result.stdout: an integer, expected a string"},
        {"stdout", "null", "result.stdout: null, expected a string"},
        {"timed_out", "0", "result.timed_out: an integer, expected a boolean"},
        {"duration_ms", "-5", "result.duration_ms: -5 is outside"},
        {"stdout_dropped_bytes", "9007199254740993", "result.stdout_dropped_bytes"},
        {"pid", "0", "result.pid: 0 is outside"},
        {"signal", "0", "result.signal: 0 is outside"},
        {"signal", "99", "result.signal: 99 is outside"},
        {"evil", "\"x\"", "result: unexpected key \"evil\""},
        {"stdout_truncated", "true", "stdout_truncated disagrees with stdout_dropped_bytes"},
        {"stderr_dropped_bytes", "5", "stderr_truncated disagrees with stderr_dropped_bytes"},
        {"signal", "9", "exit_code 3 disagrees with signal 9"},
        {"stdout_replaced", "2000000", "result.stdout_replaced: 2000000 is outside"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        json_t *res = exec_result();
        if (bad[i].json)
            json_set(res, bad[i].key, json_loads(bad[i].json, JSON_DECODE_ANY, NULL));
        else
            json_object_del(res, bad[i].key);
        refused("exec", resp_ok(res), 0, bad[i].needle);
    }
    /* Oversized and invalid text. */
    size_t big = (size_t)PROTO_EXEC_TEXT_MAX + 1;
    _cleanup_free_ char *text = xmalloc(big);
    memset(text, 'a', big);
    json_t *res = exec_result();
    json_set(res, "stdout", json_stringn(text, big));
    refused("exec", resp_ok(res), 0, "result.stdout: string of 3145729 bytes, at most 3145728 allowed");
    res = exec_result();
    json_set(res, "stderr", json_stringn_nocheck("a\xff\xfe", 3));
    refused("exec", resp_ok(res), 0, "result.stderr: string is not valid UTF-8");
    /* The result itself, and the response around it. */
    refused("exec", resp_ok(NULL), 0, "result: missing, expected an object");
    refused("exec", resp_ok(json_pack("[i]", 1)), 0, "result: an array, expected an object");
    json_t *h = resp_ok(exec_result());
    json_object_del(h, "ok");
    refused("exec", h, 0, "\"ok\" is not a boolean");
    h = resp_ok(exec_result());
    json_set(h, "ok", json_string("yes"));
    refused("exec", h, 0, "\"ok\" is not a boolean");
    h = proto_header_new(PROTO_RESP, 7);
    json_set(h, "ok", json_false());
    json_set(h, "error", json_pack("{s:s}", "message", "no code"));
    refused("exec", h, 0, "malformed error response");
    refused("exec", resp_ok(exec_result()), 10, "a body of 10 bytes came with the result");
    refused("frobnicate", resp_ok(json_object()), 0, "no reply is declared for op frobnicate");
}

/* The texts are held to the limits the host asked for. */
static void test_exec_limits_asked(void **state)
{
    json_auto_t *res = exec_result();
    json_set(res, "stdout", json_string("0123456789abcdef"));
    struct proto_exec_request req = {.command = "x", .stdout_max = 10, .stderr_max = 10};
    struct proto_exec_result r;
    pyro_error err = {0};
    assert_int_equal(proto_exec_result_unpack(res, &req, &r, &err), -PYRO_E_PROTOCOL);
    assert_non_null(strstr(err.message, "result.stdout: 16 bytes, more than the 10 asked for"));
    assert_null(r.out.text);
    /* 4 replacement characters stand for at least 4 bytes: 10 + 2 * 4. */
    json_set(res, "stdout",
             json_string("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                         "123456"));
    json_set(res, "stdout_replaced", json_integer(4));
    assert_int_equal(proto_exec_result_unpack(res, &req, &r, &err), 0);
    proto_exec_result_clear(&r);
}

static void test_malformed_other_ops(void **state)
{
    json_t *ok = json_pack("{s:s, s:i, s:i, s:i, s:b}", "path", "a", "size", 5, "offset", 0, "bytes", 5, "truncated",
                           0);
    pyro_error err = {0};
    json_auto_t *good = resp_ok(json_deep_copy(ok));
    assert_int_equal(agent_reply_unpack("file_read", good, 5, NULL, &err), 0);
    refused("file_read", resp_ok(ok), 4, "result.bytes is 5 but the body has 4");

    refused("file_stat",
            resp_ok(json_pack("{s:s, s:s, s:i, s:i, s:i}", "path", "a", "type", "bogus", "size", 1, "mode", 0644,
                              "mtime_ms", 0)),
            0, "result.type: unexpected value \"bogus\"");
    refused("file_stat",
            resp_ok(json_pack("{s:s, s:s, s:i, s:i, s:i}", "path", "a", "type", "file", "size", 1, "mode", 070000,
                              "mtime_ms", 0)),
            0, "result.mode: 28672 is outside [0, 4095]");
    refused("file_list",
            resp_ok(json_pack("{s:s, s:[{s:s}], s:b}", "path", "", "entries", "path", "x", "truncated", 0)), 0,
            "result.entries[0].type: missing");
    refused("manifest",
            resp_ok(json_pack("{s:s, s:i, s:[[s, s, i, i, s]], s:b}", "path", "", "count", 2, "entries", "a", "file",
                              0644, 1, "00", "truncated", 0)),
            0, "result.count is 2 but 1 entries came");
    refused("manifest",
            resp_ok(json_pack("{s:s, s:i, s:[[s, s, i]], s:b}", "path", "", "count", 1, "entries", "a", "file", 0644,
                              "truncated", 0)),
            0, "result.entries[0]: array of 3 elements, 5 expected");
    refused("manifest",
            resp_ok(json_pack("{s:s, s:i, s:[[s, s, i, s, s]], s:b}", "path", "", "count", 1, "entries", "a", "file",
                              0644, "1", "00", "truncated", 0)),
            0, "result.entries[0][3]: a string, expected an integer");
    refused("tar_out", resp_ok(json_pack("{s:i, s:i}", "bytes", 1, "entries", 1)), 0, "result.skipped: missing");
    refused("kill", resp_ok(json_pack("{s:i, s:i}", "target", 0, "signal", 9)), 0, "result.target: 0 is outside");
    refused("monitor_status", resp_ok(json_pack("{s:s, s:i, s:i}", "state", "on fire", "sandbox_pid", 1, "clients", 1)),
            0, "result.state: unexpected value");

    /* Shell reads: the body is the output, the cursors must add up. */
    json_t *sr = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:b, s:i}", "shell_id", "shell-1", "state", "running",
                           "cols", 80, "rows", 24, "cursor", 10, "next_cursor", 15, "bytes", 5, "truncated", 0, "end",
                           20);
    json_auto_t *sgood = resp_ok(json_deep_copy(sr));
    assert_int_equal(agent_reply_unpack("shell_read", sgood, 5, NULL, &err), 0);
    json_t *sr2 = json_deep_copy(sr);
    json_set(sr2, "next_cursor", json_integer(17));
    json_set(sr2, "bytes", json_integer(6));
    refused("shell_read", resp_ok(sr2), 6, "result.next_cursor 17 is not cursor 10 + 6 bytes within end 20");
    json_t *sr3 = json_deep_copy(sr);
    json_set(sr3, "end", json_integer(12));
    refused("shell_read", resp_ok(sr3), 5, "within end 12");
    json_t *sr4 = json_deep_copy(sr);
    json_set(sr4, "state", json_string("zombie"));
    refused("shell_read", resp_ok(sr4), 5, "result.state: unexpected value");
    refused("shell_read", resp_ok(sr), 4, "result.bytes is 5 but the body has 4");
    refused("shell_open",
            resp_ok(json_pack("{s:s, s:s, s:i, s:i, s:s, s:i, s:i}", "shell_id", "shell-1-but-far-too-long", "state",
                              "running", "cols", 80, "rows", 24, "cwd", "/workspace", "pid", 9, "started_ms", 1)),
            0, "result.shell_id");
    refused("shell_signal",
            resp_ok(json_pack("{s:s, s:s, s:i, s:i, s:s, s:i}", "shell_id", "shell-1", "state", "running", "cols", 0,
                              "rows", 24, "signal", "INT", "pgid", 9)),
            0, "result.cols: 0 is outside [1, 1000]");
    refused("shell_write",
            resp_ok(json_pack("{s:s, s:s, s:i, s:i, s:i, s:i}", "shell_id", "shell-1", "state", "running", "cols", 8,
                              "rows", 24, "bytes", 1, "pending", 0)),
            3, "a body of 3 bytes came with the result");
    refused("shell_close", resp_ok(json_pack("{s:i, s:s}", "closed", 1, "extra", "x")), 0, "unexpected key \"extra\"");

    /* Hello headers. */
    json_auto_t *hello = json_pack("{s:s, s:i, s:i, s:s, s:[s], s:[], s:[], s:{s:i, s:i, s:i, s:i}, s:i, s:b}", "t",
                                   "hello", "id", 0, "version", 1, "agent", "pyro-agent x", "ops", "exec",
                                   "reserved_ops", "caps", "limits", "header_max", 100, "body_max", 100, "chunk", 10,
                                   "window", 10, "pid", 1, "init", 1);
    assert_int_equal(proto_hello_check(hello, &err), 0);
    json_set(hello, "ops", json_pack("[i]", 1));
    assert_int_equal(proto_hello_check(hello, &err), -PYRO_E_PROTOCOL);
    assert_non_null(strstr(err.message, "hello.ops[0]: an integer, expected a string"));
    json_object_del(hello, "ops");
    assert_int_equal(proto_hello_check(hello, &err), -PYRO_E_PROTOCOL);
    assert_non_null(strstr(err.message, "hello.ops: missing"));
}

/* ---- a forged agent over a real channel -------------------------------- */

static void send_hdr(int fd, json_t *h)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (proto_frame_encode(h, NULL, 0, &buf, &len, NULL) < 0 || proto_write_all(fd, buf, len, 5000, NULL) < 0)
        _exit(3);
    free(buf);
    json_decref(h);
}

/* Answers the hello properly, then every exec with a result that lacks
 * its keys and every ping properly. */
static void __attribute__((noreturn)) forged_agent(int fd)
{
    struct proto_reader rd = {0};
    for (;;) {
        struct proto_frame f;
        int r;
        while ((r = proto_reader_next(&rd, &f, NULL)) > 0) {
            json_t *h = proto_header_new(f.type == PROTO_HELLO ? PROTO_HELLO : PROTO_RESP, f.id);
            if (f.type == PROTO_HELLO) {
                json_t *hello = json_pack("{s:i, s:s, s:[s,s], s:[], s:[], s:{s:i, s:i, s:i, s:i}, s:i, s:b}",
                                          "version", 1, "agent", "forged", "ops", "exec", "ping", "reserved_ops",
                                          "caps", "limits", "header_max", PROTO_HEADER_MAX, "body_max", PROTO_BODY_MAX,
                                          "chunk", PROTO_CHUNK, "window", PROTO_WINDOW, "pid", 1, "init", 0);
                json_object_update(h, hello);
                json_decref(hello);
            } else if (!strcmp(f.op, "exec")) {
                json_set(h, "ok", json_true());
                json_set(h, "result", json_pack("{s:s}", "stdout", "pwned"));
            } else {
                json_set(h, "ok", json_true());
                json_set(h, "result", json_pack("{s:i, s:i}", "pid", 1, "uptime_ms", 5));
            }
            send_hdr(fd, h);
            proto_frame_clear(&f);
        }
        if (r < 0 || proto_reader_fill(&rd, fd) <= 0)
            _exit(0);
    }
}

static void test_forged_agent(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        forged_agent(sv[1]);
    }
    close(sv[1]);
    struct agent_conn *c = NULL;
    pyro_error err = {0};
    assert_int_equal(agent_conn_open(sv[0], 5000, &c, &err), 0);
    json_auto_t *req = json_pack("{s:s, s:{s:s}}", "op", "exec", "args", "command", "true");
    json_t *res = NULL;
    assert_int_equal(agent_call(c, req, NULL, 0, &res, NULL, 5000, &err), -PYRO_E_PROTOCOL);
    assert_null(res);
    assert_non_null(strstr(err.message, "agent: malformed reply to exec: result.exit_code: missing"));
    /* The channel itself is fine: the next request works. */
    json_auto_t *ping = json_pack("{s:s}", "op", "ping");
    assert_int_equal(agent_call(c, ping, NULL, 0, &res, NULL, 5000, &err), 0);
    assert_int_equal(json_get_int(res, "uptime_ms", 0), 5);
    json_decref(res);
    agent_conn_close(c);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* ---- the real agent ---------------------------------------------------- */

static void test_real_agent_declared(void **state)
{
    struct fx *fx = *state;
    /* Every op the agent serves has its reply declared. */
    size_t i;
    json_t *op;
    json_array_foreach(json_object_get(agent_conn_hello(fx->c), "ops"), i, op) {
        if (!proto_reply_find(json_string_value(op)))
            fail_msg("no reply declared for the agent's op %s", json_string_value(op));
    }
    /* A real exec through the typed request: the reply unpacks against the
     * limits asked for, signal included. */
    const struct proto_exec_request req = {
        .command = "printf 'a\\377'; head -c 100 /dev/zero >&2; kill -KILL $$",
        .stdout_max = 10,
        .stderr_max = 50,
    };
    json_auto_t *call = json_pack("{s:s, s:o}", "op", "exec", "args", proto_exec_request_pack(&req));
    json_auto_t *res = NULL;
    pyro_error err = {0};
    assert_int_equal(agent_call(fx->c, call, NULL, 0, &res, NULL, T_MS, &err), 0);
    struct proto_exec_result r;
    assert_int_equal(proto_exec_result_unpack(res, &req, &r, &err), 0);
    assert_int_equal(r.signal, SIGKILL);
    assert_int_equal(r.exit_code, 128 + SIGKILL);
    assert_int_equal(r.out.replaced, 1);
    assert_true(r.err.truncated);
    assert_int_equal(r.err.dropped_bytes, 50);
    /* Every key the agent sent is declared, and the op results take the
     * PUBLIC ones: each is a property of the three exec schemas. */
    json_auto_t *pub = json_object();
    proto_exec_result_pack(&r, true, pub);
    proto_exec_result_clear(&r);
    assert_int_equal(json_object_size(pub) + 1, json_object_size(res)); /* all but pid */
    static const char *const ops[] = {"vm_exec", "vm_run", "workspace_exec"};
    for (size_t k = 0; k < ARRAY_SIZE(ops); k++) {
        json_auto_t *schema = contract_output_schema_json(contract_op_find(ops[k]));
        const json_t *props = json_object_get(schema, "properties");
        const char *key;
        json_t *v;
        json_object_foreach(pub, key, v) {
            if (!json_object_get(props, key))
                fail_msg("%s's output schema lacks %s", ops[k], key);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_exec),
        cmocka_unit_test(test_malformed_exec),
        cmocka_unit_test(test_exec_limits_asked),
        cmocka_unit_test(test_malformed_other_ops),
        cmocka_unit_test(test_forged_agent),
        cmocka_unit_test_setup_teardown(test_real_agent_declared, agent_fx_setup, agent_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
