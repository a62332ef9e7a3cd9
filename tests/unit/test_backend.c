/* backend_get() and the monitor's refusal of an unknown backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/monitor.h"
#include "backend/sandbox/sandbox.h"
#include "base/paths.h"

static void test_get_sandbox(void **state)
{
    (void)state;
    const struct backend_ops *ops = NULL;
    pyro_error err = {0};
    assert_int_equal(backend_get("sandbox", &ops, &err), 0);
    assert_non_null(ops);
    assert_string_equal(ops->name, "sandbox");
    assert_ptr_equal(ops->start, sandbox_start);
    assert_ptr_equal(ops->kill, sandbox_kill);
    assert_ptr_equal(ops->release, sandbox_release);
    assert_ptr_equal(ops->destroy, sandbox_destroy);
}

static void test_get_unknown(void **state)
{
    (void)state;
    const char *names[] = {"vm", "", "Sandbox", "sandbox ", NULL};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const struct backend_ops *ops = NULL;
        pyro_error err = {0};
        assert_int_equal(backend_get(names[i], &ops, &err), -PYRO_E_INVALID);
        assert_null(ops); /* untouched */
        assert_non_null(strstr(err.message, "unknown backend"));
        assert_non_null(strstr(err.message, "known: sandbox"));
        if (names[i]) {
            char quoted[64];
            snprintf(quoted, sizeof(quoted), "'%s'", names[i]);
            assert_non_null(strstr(err.message, quoted));
        }
    }
    assert_int_equal(backend_get("vm", &(const struct backend_ops *){NULL}, NULL), -PYRO_E_INVALID);
}

/* A monitor asked for a backend that does not exist reports it and creates
 * nothing (no monitor.json, no backend directory). */
static void test_monitor_unknown_backend(void **state)
{
    (void)state;
    char dir[] = "/tmp/pyro-test-backend.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct monitor_config cfg = {
        .backend = "nope",
        .dir = dir,
        .id = "tbackend",
        .rootfs = "/nonexistent",
        .agent_path = "/nonexistent",
        .vcpu_count = 1,
        .mem_mib = 64,
        .pids_max = 16,
        .expires_at_ms = INT64_MAX / 2,
    };
    int pid = 0;
    pyro_error err = {0};
    assert_int_equal(monitor_spawn(&cfg, 10000, &pid, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "unknown backend 'nope'"));
    char p[512];
    snprintf(p, sizeof(p), "%s/monitor.json", dir);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(p, sizeof(p), "%s/sandbox", dir);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(rm_rf(dir, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_sandbox),
        cmocka_unit_test(test_get_unknown),
        cmocka_unit_test(test_monitor_unknown_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
