/* The doctor operation, run for real on this host: its result must match
 * the declared output schema and be internally consistent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/paths.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"
#include "lib/host/accel.h"

static char tmpdir[] = "/tmp/pyro-test-doctor.XXXXXX";

static const char *const expected_checks[] = {
    "platform",
    "kernel",
    "kvm",
    "kvm_native",
    "vm_accelerator",
    "qemu",
    "qemu_microvm",
    "user_namespaces",
    "namespaces",
    "state_dir",
    "overlayfs",
    "cgroups",
    "seccomp",
    "tun",
    "ip_forward",
    "disk_quota",
    "subordinate_ids",
    "uidmap",
    "overlayfs_userns",
    "user_network",
    "cgroup_delegation",
    "kvm_group",
    "id_pool",
    "environments",
    "limits",
};

/* The checks a rootless sandbox needs, as rootless.missing names them. */
static const char *const rootless_needs[] = {"user_namespaces", "subordinate_ids", "uidmap", "overlayfs_userns",
                                             "user_network"};

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    _cleanup_free_ char *home = xasprintf("%s/state/nested", tmpdir); /* does not exist yet */
    _cleanup_free_ char *cache = xasprintf("%s/cache", tmpdir);
    setenv("PYRO_HOME", home, 1);
    setenv("XDG_CACHE_HOME", cache, 1);
    unsetenv("PYRO_CACHE_DIR");
    unsetenv(ACCEL_ENV);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(tmpdir, NULL);
    return 0;
}

/* Runs the real handler and checks the result against the op's schema. */
static json_t *doctor_result(void)
{
    const struct contract_op *op = contract_op_find("doctor");
    assert_non_null(op);
    pyro_error err = {0};
    struct pyro_ctx *ctx = NULL;
    assert_int_equal(pyro_ctx_new(&ctx, &err), 0);
    json_t *args = NULL;
    assert_int_equal(contract_args_validate(op, NULL, SURFACE_ALL, &args, &err), 0);
    json_t *result = NULL;
    int r = op->handler(ctx, args, &result, &err);
    json_decref(args);
    pyro_ctx_free(ctx);
    assert_int_equal(r, 0);
    json_auto_t *schema = contract_output_schema_json(op);
    if (contract_schema_check(schema, result, &err) < 0)
        fail_msg("doctor result does not match its schema: %s", err.message);
    return result;
}

static json_t *check_find(json_t *result, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(result, "checks"), i, c)
        if (!strcmp(json_get_str(c, "name", ""), name))
            return c;
    return NULL;
}

/* rootless and sandbox_limits agree with the checks and the cgroups. */
static void check_rootless(json_t *res)
{
    bool root = geteuid() == 0;
    json_t *rl = json_object_get(res, "rootless");
    json_t *missing = json_object_get(rl, "missing");
    assert_int_equal(json_get_bool(rl, "ready", false), json_array_size(missing) == 0);
    char want[256] = "ready";
    size_t used = 0;
    for (size_t i = 0; i < ARRAY_SIZE(rootless_needs); i++) {
        const char *st = json_get_str(check_find(res, rootless_needs[i]), "status", "");
        bool listed = false;
        size_t j;
        json_t *m;
        json_array_foreach(missing, j, m)
            listed = listed || !strcmp(json_string_value(m), rootless_needs[i]);
        /* A missing piece is a failed check (a warning as root); user_namespaces
         * as root passes only when it also works unprivileged. */
        if (listed)
            assert_string_not_equal(st, "pass");
        else if (strcmp(rootless_needs[i], "user_namespaces") || !root)
            assert_string_equal(st, "pass");
        if (listed)
            used += (size_t)snprintf(want + used, sizeof(want) - used, "%s%s",
                                     used ? ", " : "not ready (missing: ", rootless_needs[i]);
        if (listed && !root)
            assert_string_equal(st, "fail");
    }
    if (used)
        snprintf(want + used, sizeof(want) - used, ")");
    assert_string_equal(json_get_str(rl, "summary", ""), want);

    json_t *lim = json_object_get(res, "sandbox_limits");
    assert_int_equal(json_get_int(lim, "uid", -1), geteuid());
    const char *ctls[] = {"memory", "pids", "cpu"};
    for (size_t i = 0; i < ARRAY_SIZE(ctls); i++) {
        json_t *l = json_object_get(lim, ctls[i]);
        const char *by = json_get_str(l, "by", "");
        assert_int_equal(json_get_bool(l, "enforced", false), !strncmp(by, "cgroup_", 7));
        json_t *cg = json_object_get(json_object_get(json_object_get(res, "cgroups"), "controllers"), ctls[i]);
        if (root) { /* the cgroup the root sandbox uses, or nothing */
            bool usable = json_get_bool(cg, "usable", false);
            const char *h = json_get_str(cg, "hierarchy", "");
            assert_string_equal(by, !usable ? "none" : !strcmp(h, "v1") ? "cgroup_v1" : "cgroup_v2");
        } else { /* rootless sandboxes get no cgroup: RLIMIT_NPROC stands in for pids */
            assert_string_equal(by, !strcmp(ctls[i], "pids") ? "rlimit_nproc" : "none");
            assert_string_equal(json_get_str(check_find(res, "cgroup_delegation"), "status", ""), "warn");
        }
    }
    /* The id pool is root's: a user is told it is not used. */
    if (!root)
        assert_non_null(strstr(json_get_str(check_find(res, "id_pool"), "detail", ""), "not used"));
}

static void test_contract(void **state)
{
    (void)state;
    const struct contract_op *op = contract_op_find("doctor");
    assert_non_null(op);
    assert_string_equal(op->cli, "doctor");
    assert_int_equal(op->exposure, 0);
    assert_int_equal(op->annotations, PA_READ_ONLY | PA_IDEMPOTENT);
    pyro_error err = {0};
    json_t *args = NULL;
    json_auto_t *bad = json_pack("{s:b}", "bogus", 1);
    assert_true(contract_args_validate(op, bad, SURFACE_ALL, &args, &err) < 0);
    assert_null(args);
}

static void test_result_shape_and_invariants(void **state)
{
    (void)state;
    json_auto_t *res = doctor_result();
    /* Every check exactly once, in the documented order. */
    json_t *checks = json_object_get(res, "checks");
    assert_int_equal(json_array_size(checks), ARRAY_SIZE(expected_checks));
    for (size_t i = 0; i < ARRAY_SIZE(expected_checks); i++)
        assert_string_equal(json_get_str(json_array_get(checks, i), "name", ""), expected_checks[i]);
    size_t i;
    json_t *c;
    json_array_foreach(checks, i, c) {
        assert_true(strlen(json_get_str(c, "detail", "")) > 0);
        /* A failing check always says how to fix it. */
        if (!strcmp(json_get_str(c, "status", ""), "fail"))
            assert_true(strlen(json_get_str(c, "hint", "")) > 0);
    }

    /* The schema is strict enough to catch drift: an unknown status or key fails. */
    const struct contract_op *op = contract_op_find("doctor");
    json_auto_t *schema = contract_output_schema_json(op);
    pyro_error err = {0};
    json_auto_t *bad = json_deep_copy(res);
    json_set(json_array_get(json_object_get(bad, "checks"), 0), "status", json_string("ok"));
    assert_true(contract_schema_check(schema, bad, &err) < 0);
    json_auto_t *extra = json_deep_copy(res);
    json_set(json_object_get(json_object_get(extra, "backends"), "vm"), "speed", json_string("fast"));
    assert_true(contract_schema_check(schema, extra, &err) < 0);

    json_t *sb = json_object_get(json_object_get(res, "backends"), "sandbox");
    json_t *vm = json_object_get(json_object_get(res, "backends"), "vm");
    bool ok = json_get_bool(res, "ok", false);
    assert_int_equal(ok, json_get_bool(sb, "available", false) || json_get_bool(vm, "available", false));
    /* The vm backend names its accelerator exactly when it is available. */
    assert_int_equal(json_get_bool(vm, "available", false), json_is_string(json_object_get(vm, "accelerator")));
    if (json_get_bool(vm, "available", false))
        assert_string_equal(json_get_str(check_find(res, "qemu_microvm"), "status", ""), "pass");
    if (json_get_bool(sb, "available", false)) {
        assert_string_equal(json_get_str(check_find(res, "namespaces"), "status", ""), "pass");
        assert_string_equal(json_get_str(check_find(res, "overlayfs"), "status", ""), "pass");
        assert_string_equal(json_get_str(check_find(res, "seccomp"), "status", ""), "pass");
    }

    check_rootless(res);

    /* The state dir was created, and the probe files are gone. */
    const char *sd = json_get_str(res, "state_dir", "");
    assert_string_equal(sd, getenv("PYRO_HOME"));
    assert_string_equal(json_get_str(check_find(res, "state_dir"), "status", ""), "pass");
    _cleanup_closedir_ DIR *d = opendir(sd);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            fail_msg("doctor left %s behind in the state dir", de->d_name);

    /* On a kvm_pvm host (with its /dev/kvm) doctor must not claim native KVM. */
    struct stat st;
    if (stat("/sys/module/kvm_pvm", &st) == 0 && stat("/dev/kvm", &st) == 0) {
        assert_string_equal(json_get_str(check_find(res, "kvm_native"), "status", ""), "warn");
        if (json_get_bool(vm, "available", false)) {
            assert_string_equal(json_get_str(vm, "accelerator", ""), "tcg");
            assert_non_null(strstr(json_get_str(vm, "reason", ""), "kvm_pvm"));
        }
    }
}

static void test_environments_listed(void **state)
{
    (void)state;
    const char *names[] = {"debian_3a12-build", "debian_3a12"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *dir = xasprintf("%s/cache/pyro/environments/%s/1", tmpdir, names[i]);
        assert_int_equal(mkdir_p(dir, 0700, NULL), 0);
    }
    _cleanup_free_ char *hidden = xasprintf("%s/cache/pyro/environments/.partial", tmpdir);
    assert_int_equal(mkdir_p(hidden, 0700, NULL), 0);
    _cleanup_free_ char *file = xasprintf("%s/cache/pyro/environments/stray-file", tmpdir);
    int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);

    json_auto_t *res = doctor_result();
    json_t *envs = json_object_get(res, "environments");
    assert_int_equal(json_array_size(envs), 2);
    assert_string_equal(json_string_value(json_array_get(envs, 0)), "debian_3a12");
    assert_string_equal(json_string_value(json_array_get(envs, 1)), "debian_3a12-build");
    assert_string_equal(json_get_str(check_find(res, "environments"), "status", ""), "pass");
    assert_false(json_get_bool(res, "environments_truncated", true));
    _cleanup_free_ char *want = xasprintf("%s/cache/pyro/environments", tmpdir);
    assert_string_equal(json_get_str(res, "environments_dir", ""), want);
    rm_rf(want, NULL);
}

/* The list is bounded, and the cut is reported. */
static void test_environments_bounded(void **state)
{
    (void)state;
    for (int i = 0; i < 300; i++) {
        _cleanup_free_ char *dir = xasprintf("%s/cache/pyro/environments/env%03d", tmpdir, i);
        assert_int_equal(mkdir_p(dir, 0700, NULL), 0);
    }
    json_auto_t *res = doctor_result();
    assert_int_equal(json_array_size(json_object_get(res, "environments")), 256);
    assert_true(json_get_bool(res, "environments_truncated", false));
    _cleanup_free_ char *envdir = xasprintf("%s/cache/pyro/environments", tmpdir);
    rm_rf(envdir, NULL);
}

static void test_accel_env_invalid(void **state)
{
    (void)state;
    setenv(ACCEL_ENV, "bogus", 1);
    struct accel_choice ch;
    pyro_error err = {0};
    assert_int_equal(accel_choose(&ch, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, ACCEL_ENV));
    assert_non_null(strstr(err.message, "'bogus'"));

    json_auto_t *res = doctor_result();
    unsetenv(ACCEL_ENV);
    json_t *vm = json_object_get(json_object_get(res, "backends"), "vm");
    assert_false(json_get_bool(vm, "available", true));
    assert_true(json_is_null(json_object_get(vm, "accelerator")));
    json_t *c = check_find(res, "vm_accelerator");
    assert_string_equal(json_get_str(c, "status", ""), "fail");
    assert_non_null(strstr(json_get_str(c, "detail", ""), "'bogus'"));
    json_t *sb = json_object_get(json_object_get(res, "backends"), "sandbox");
    assert_int_equal(json_get_bool(res, "ok", false), json_get_bool(sb, "available", false));
}

/* The caps on running sandboxes: the host's defaults, then overrides. */
static void test_limits(void **state)
{
    (void)state;
    unsetenv("PYRO_MAX_TOTAL_MEM_MIB");
    unsetenv("PYRO_MAX_TOTAL_VCPUS");
    json_auto_t *res = doctor_result();
    json_t *l = json_object_get(res, "limits");
    long long host = json_get_int(l, "host_mem_mib", 0);
    assert_true(host > 0);
    assert_int_equal(json_get_int(l, "max_total_mem_mib", 0), host * 75 / 100);
    assert_int_equal(json_get_int(l, "max_total_vcpus", 0), 4 * sysconf(_SC_NPROCESSORS_ONLN));
    assert_int_equal(json_get_int(l, "host_cpus", 0), sysconf(_SC_NPROCESSORS_ONLN));
    assert_int_equal(json_get_int(l, "max_active_vms", 0), PYRO_DEFAULT_MAX_ACTIVE_VMS);
    assert_false(json_get_bool(l, "max_total_mem_mib_from_env", true));
    json_t *c = check_find(res, "limits");
    assert_string_equal(json_get_str(c, "status", ""), "pass");
    assert_non_null(strstr(json_get_str(c, "detail", ""), "75% of"));

    setenv("PYRO_MAX_TOTAL_MEM_MIB", "2560", 1);
    setenv("PYRO_MAX_TOTAL_VCPUS", "3", 1);
    json_auto_t *o = doctor_result();
    l = json_object_get(o, "limits");
    assert_int_equal(json_get_int(l, "max_total_mem_mib", 0), 2560);
    assert_int_equal(json_get_int(l, "max_total_vcpus", 0), 3);
    assert_true(json_get_bool(l, "max_total_mem_mib_from_env", false));
    assert_true(json_get_bool(l, "max_total_vcpus_from_env", false));
    c = check_find(o, "limits");
    assert_non_null(strstr(json_get_str(c, "detail", ""), "2560 MiB of memory (PYRO_MAX_TOTAL_MEM_MIB"));
    assert_non_null(strstr(json_get_str(c, "detail", ""), "3 vCPUs (PYRO_MAX_TOTAL_VCPUS)"));

    /* A cap above the host's memory is allowed, with a warning. */
    char big[32];
    snprintf(big, sizeof(big), "%lld", host + 1);
    setenv("PYRO_MAX_TOTAL_MEM_MIB", big, 1);
    json_auto_t *w = doctor_result();
    unsetenv("PYRO_MAX_TOTAL_MEM_MIB");
    unsetenv("PYRO_MAX_TOTAL_VCPUS");
    c = check_find(w, "limits");
    assert_string_equal(json_get_str(c, "status", ""), "warn");
    assert_non_null(strstr(json_get_str(c, "hint", ""), "above the host's memory"));
}

static void test_accel_env_tcg(void **state)
{
    (void)state;
    setenv(ACCEL_ENV, "tcg", 1);
    struct accel_choice ch;
    pyro_error err = {0};
    assert_int_equal(accel_choose(&ch, &err), 0);
    assert_string_equal(ch.name, "tcg");
    assert_true(ch.forced);
    json_auto_t *res = doctor_result();
    unsetenv(ACCEL_ENV);
    json_t *vm = json_object_get(json_object_get(res, "backends"), "vm");
    if (json_get_bool(vm, "available", false))
        assert_string_equal(json_get_str(vm, "accelerator", ""), "tcg");
    assert_string_equal(json_get_str(check_find(res, "vm_accelerator"), "status", ""), "pass");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract),
        cmocka_unit_test(test_result_shape_and_invariants),
        cmocka_unit_test(test_environments_listed),
        cmocka_unit_test(test_environments_bounded),
        cmocka_unit_test(test_accel_env_invalid),
        cmocka_unit_test(test_accel_env_tcg),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
