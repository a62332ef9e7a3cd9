/* Services in the real agent (pyro-agent-dyn, non-init, logs under a
 * scratch PYRO_AGENT_SERVICE_DIR): every reply satisfies its declaration
 * (proto/reply.c, checked by agent_call); a command probe, logs apart,
 * stop of a TERM-ignoring service and of a child that left its session,
 * a readiness timeout and a hanging probe leave no process; bad requests
 * start nothing. And forged service replies are refused. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_fixture.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "lib/vm/agent_client.h"
#include "proto/proto.h"
#include "proto/reply.h"

static char svc_dir[] = "/tmp/pyro-svc-test-XXXXXX";

static int call(struct fx *fx, const char *op, json_t *args, json_t **res, pyro_error *err)
{
    json_auto_t *req = json_pack("{s:s, s:o}", "op", op, "args", args);
    return agent_call(fx->c, req, NULL, 0, res, NULL, T_MS, err);
}

static json_t *must(struct fx *fx, const char *op, json_t *args)
{
    json_t *res = NULL;
    pyro_error err = {0};
    if (call(fx, op, args, &res, &err) < 0)
        fail_msg("%s: %s", op, err.message);
    return res;
}

static bool alive(pid_t pid)
{
    /* A zombie is gone for our purpose: nothing of it runs. */
    char path[64], st = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    int r = fscanf(f, "%*d (%*[^)]) %c", &st);
    fclose(f);
    return r == 1 && st != 'Z';
}

static pid_t pid_in(const char *file)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", svc_dir, file);
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(p, "r");
        int v = 0;
        if (f) {
            int n = fscanf(f, "%d", &v);
            fclose(f);
            if (n == 1 && v > 0)
                return v;
        }
        usleep(50000);
    }
    fail_msg("no pid in %s", p);
    return -1;
}

static void test_service_flow(void **state)
{
    struct fx *fx = *state;
    _cleanup_free_ char *ready = xasprintf("%s/ready", svc_dir);
    _cleanup_free_ char *cmd = xasprintf("echo out1; echo err1 >&2; sleep 0.3; touch %s; exec sleep 600", ready);
    _cleanup_free_ char *probe = xasprintf("test -f %s", ready);
    json_auto_t *s = must(fx, "service_start",
                          json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:i}", "name", "app", "command", cmd, "cwd", "/",
                                    "readiness", "type", "command", "command", probe, "ready_interval_ms", 50));
    assert_string_equal(json_get_str(s, "state", ""), "running");
    assert_true(json_get_int(s, "ready_at_ms", 0) >= json_get_int(s, "started_at_ms", 1));
    pid_t leader = (pid_t)json_get_int(s, "pid", 0);
    assert_true(alive(leader));

    json_auto_t *logs = must(fx, "service_logs", json_pack("{s:s, s:i}", "name", "app", "tail_lines", 0));
    assert_string_equal(json_get_str(logs, "stdout", ""), "out1\n");
    assert_string_equal(json_get_str(logs, "stderr", ""), "err1\n");
    assert_null(json_object_get(logs, "tail_lines"));

    /* Duplicate, bad readiness, unknown: errors, nothing more listed. */
    json_t *res = NULL;
    pyro_error err = {0};
    assert_int_equal(call(fx, "service_start", json_pack("{s:s, s:s}", "name", "app", "command", "true"), &res, &err),
                     -EEXIST);
    static const char *const bad[] = {
        "{\"name\":\"b\",\"command\":\"true\",\"readiness\":{\"type\":\"tcp\",\"address\":\"x\"}}",
        "{\"name\":\"b\",\"command\":\"true\",\"readiness\":{\"type\":\"http\",\"url\":\"ftp://1.2.3.4/\"}}",
        "{\"name\":\"b\",\"command\":\"true\",\"readiness\":{\"type\":\"tcp\",\"address\":\"127.0.0.1:0\"}}",
        "{\"name\":\"b\",\"command\":\"true\",\"readiness\":{\"type\":\"file\",\"url\":\"x\"}}",
        "{\"name\":\"b\",\"command\":\"true\",\"readiness\":{\"type\":\"nope\",\"path\":\"x\"}}",
        "{\"name\":\"b\",\"command\":\"true\",\"readiness\":{\"type\":\"file\",\"path\":\"x\",\"url\":\"y\"}}",
        "{\"name\":\"../b\",\"command\":\"true\"}",
        "{\"name\":\"b\",\"command\":\"\"}",
        "{\"name\":\"b\",\"command\":\"true\",\"cwd\":\"/nonexistent\"}",
        "{\"name\":\"b\",\"command\":\"true\",\"ready_interval_ms\":1}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        json_t *a = json_loads(bad[i], 0, NULL);
        assert_non_null(a);
        if (call(fx, "service_start", a, &res, &err) >= 0)
            fail_msg("accepted: %s", bad[i]);
    }
    assert_int_equal(call(fx, "service_status", json_pack("{s:s}", "name", "b"), &res, &err), -PYRO_E_NOT_FOUND);
    json_auto_t *list = must(fx, "service_list", json_object());
    assert_int_equal(json_get_int(list, "count", -1), 1);
    assert_int_equal(json_get_int(list, "running_count", -1), 1);

    json_auto_t *st = must(fx, "service_stop", json_pack("{s:s}", "name", "app"));
    json_t *rec = json_array_get(json_object_get(st, "services"), 0);
    assert_string_equal(json_get_str(rec, "state", ""), "stopped");
    assert_string_equal(json_get_str(rec, "stop_reason", ""), "stopped");
    assert_int_equal(json_get_int(rec, "exit_code", -1), 128 + SIGTERM);
    assert_false(alive(leader));
}

static void test_service_stop_tree(void **state)
{
    struct fx *fx = *state;
    /* Ignores TERM, and has a child in a new session (double fork). */
    _cleanup_free_ char *cmd =
        xasprintf("trap '' TERM; (setsid sh -c 'echo $$ > %s/child; exec sleep 600' &); echo $$ > %s/leader; "
                  "while :; do sleep 1; done",
                  svc_dir, svc_dir);
    json_auto_t *started = must(fx, "service_start", json_pack("{s:s, s:s}", "name", "tree", "command", cmd));
    assert_non_null(started);
    pid_t child = pid_in("child"), leader = pid_in("leader");
    assert_true(alive(child));
    assert_true(alive(leader));
    json_auto_t *st = must(fx, "service_stop", json_pack("{s:b, s:s}", "all", 1, "reason", "reset"));
    json_t *rec = json_array_get(json_object_get(st, "services"), 0);
    assert_string_equal(json_get_str(rec, "state", ""), "stopped");
    assert_string_equal(json_get_str(rec, "stop_reason", ""), "reset");
    assert_int_equal(json_get_int(rec, "signal", 0), SIGKILL);
    assert_false(alive(child));
    assert_false(alive(leader));
}

static void test_service_failures(void **state)
{
    struct fx *fx = *state;
    json_auto_t *f = must(fx, "service_start",
                          json_pack("{s:s, s:s, s:{s:s, s:s}}", "name", "bad", "command", "echo gone >&2; exit 3",
                                    "readiness", "type", "file", "path", "/nonexistent"));
    assert_string_equal(json_get_str(f, "state", ""), "failed");
    assert_int_equal(json_get_int(f, "exit_code", -1), 3);
    assert_string_equal(json_get_str(f, "stop_reason", ""), "exited");
    assert_string_equal(json_get_str(f, "stderr_tail", ""), "gone\n");

    /* A command that ends with 0 once running: exited, by itself. */
    json_auto_t *e = must(fx, "service_start", json_pack("{s:s, s:s}", "name", "once", "command", "echo done"));
    assert_string_equal(json_get_str(e, "state", ""), "running");
    const char *now = "running";
    for (int i = 0; i < 100 && strcmp(now, "exited"); i++) {
        usleep(50000);
        json_auto_t *st = must(fx, "service_status", json_pack("{s:s}", "name", "once"));
        now = strcmp(json_get_str(st, "state", ""), "exited") ? "running" : "exited";
        if (!strcmp(now, "exited")) {
            assert_int_equal(json_get_int(st, "exit_code", -1), 0);
            assert_string_equal(json_get_str(st, "stop_reason", ""), "exited");
            assert_string_equal(json_get_str(st, "stdout_tail", ""), "done\n");
            assert_non_null(json_object_get(st, "ended_at_ms"));
        }
    }
    assert_string_equal(now, "exited");

    /* A probe that hangs, then the readiness timeout: nothing left. */
    _cleanup_free_ char *cmd = xasprintf("echo $$ > %s/slow.pid; exec sleep 600", svc_dir);
    _cleanup_free_ char *hang = xasprintf("echo $$ > %s/probe.pid; exec sleep 600", svc_dir);
    json_auto_t *t = must(fx, "service_start",
                          json_pack("{s:s, s:s, s:{s:s, s:s}, s:i, s:i}", "name", "slow", "command", cmd, "readiness",
                                    "type", "command", "command", hang, "ready_timeout_ms", 1500, "ready_interval_ms",
                                    100));
    assert_string_equal(json_get_str(t, "state", ""), "failed");
    assert_string_equal(json_get_str(t, "stop_reason", ""), "ready_timeout");
    assert_false(alive(pid_in("slow.pid")));
    assert_false(alive(pid_in("probe.pid")));
}

/* Forged replies: counts that disagree, unknown states, missing keys. */
static void test_forged_replies(void **state)
{
    pyro_error err = {0};
    json_auto_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:s}", "service_name", "a", "command", "x",
                                 "cwd", "/", "state", "running", "pid", 5, "started_at_ms", 1, "ready_timeout_ms", 1,
                                 "ready_interval_ms", 1, "logs_dir", "/run");
    assert_int_equal(proto_reply_check("service_status", rec, 0, &err), 0);
    json_auto_t *bad_state = json_deep_copy(rec);
    json_set(bad_state, "state", json_string("zombie"));
    assert_int_equal(proto_reply_check("service_status", bad_state, 0, &err), -PYRO_E_PROTOCOL);
    json_auto_t *bad_code = json_deep_copy(rec);
    json_set(bad_code, "exit_code", json_integer(300));
    assert_int_equal(proto_reply_check("service_start", bad_code, 0, &err), -PYRO_E_PROTOCOL);
    json_auto_t *list = json_pack("{s:i, s:i, s:[O]}", "count", 2, "running_count", 1, "services", rec);
    assert_int_equal(proto_reply_check("service_list", list, 0, &err), -PYRO_E_PROTOCOL);
    json_set(list, "count", json_integer(1));
    assert_int_equal(proto_reply_check("service_list", list, 0, &err), 0);
    json_set(list, "running_count", json_integer(0));
    assert_int_equal(proto_reply_check("service_stop", list, 0, &err), -PYRO_E_PROTOCOL);
    json_auto_t *logs = json_pack("{s:s, s:s, s:b, s:b, s:b}", "service_name", "a", "stdout", "", "stdout_truncated", 0,
                                  "stderr_truncated", 0, "truncated", 0);
    assert_int_equal(proto_reply_check("service_logs", logs, 0, &err), -PYRO_E_PROTOCOL);
    assert_non_null(strstr(err.message, "stderr"));
}

int main(void)
{
    if (!mkdtemp(svc_dir))
        return 1;
    setenv("PYRO_AGENT_SERVICE_DIR", svc_dir, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_service_flow, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_service_stop_tree, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_service_failures, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test(test_forged_replies),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    _cleanup_free_ char *rm = xasprintf("rm -rf %s", svc_dir);
    (void)!system(rm);
    return r;
}
