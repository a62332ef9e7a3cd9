/* The declared output schemas of vm_run, vm_exec and workspace_exec match
 * the keys their real results carry: each result satisfies its schema
 * (required keys, types), carries no key the schema does not declare, and
 * every declared key shows up in some real result (a command killed by a
 * signal brings "signal"). The results come from real sandboxes running the
 * real agent, through the operations' handlers.
 *
 * Runs as root and as an ordinary user (label user); needs the static
 * pyro-agent next to the test binaries and debian:12-base in the test cache;
 * exits 77 (skip) without a static agent (sanitizer builds do not have one). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/spawn_capture.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"

static char tmp[256];
static struct pyro_ctx *ctx;

static json_t *run_op(const char *name, json_t *args)
{
    const struct contract_op *op = contract_op_find(name);
    assert_non_null(op);
    json_auto_t *valid = NULL;
    pyro_error err = {0};
    if (contract_args_validate(op, args, SURFACE_ALL, &valid, &err) < 0)
        fail_msg("%s arguments: %s", name, err.message);
    json_decref(args);
    json_t *res = NULL;
    if (op->handler(ctx, valid, &res, &err) < 0)
        fail_msg("%s: %s", name, err.message);
    return res;
}

/* Checks result against op's schema; adds its keys to seen. */
static void check_result(const char *name, const json_t *result, json_t *seen)
{
    json_auto_t *schema = contract_output_schema_json(contract_op_find(name));
    pyro_error err = {0};
    if (contract_schema_check(schema, result, &err) < 0)
        fail_msg("%s result: %s", name, err.message);
    const json_t *props = json_object_get(schema, "properties");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)result, key, v) {
        if (!json_object_get(props, key))
            fail_msg("%s's result carries \"%s\", which its output schema does not declare", name, key);
        json_object_set(seen, key, json_true());
    }
}

/* The host can run the vm backend (QEMU is there, pyro is root); the VM-only keys
 * (accelerator, vm_boot, vm_boot_reason) are checked only then. */
static bool vm_ok;

/* Every key the schema declares was seen in a real result. */
static void check_all_seen(const char *name, const json_t *seen)
{
    static const char *const vm_only[] = {"accelerator", "vm_boot", "vm_boot_reason"};
    for (size_t i = 0; !vm_ok && i < sizeof(vm_only) / sizeof(vm_only[0]); i++)
        json_object_set_new((json_t *)seen, vm_only[i], json_true());
    /* Root holds every limit, so only a user's results (user.unit.*) say
     * why one was not. */
    if (geteuid() == 0)
        json_object_set_new((json_t *)seen, "limits_unenforced_reason", json_true());
    json_auto_t *schema = contract_output_schema_json(contract_op_find(name));
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(schema, "properties"), key, v) {
        if (!json_object_get(seen, key))
            fail_msg("%s's output schema declares \"%s\", which no real result carried", name, key);
    }
}

static const char *const commands[] = {
    "echo out; printf 'bad \\377' >&2; exit 3",
    "kill -KILL $$",
};

static void test_vm_run(void **state)
{
    json_auto_t *seen = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        /* The first with a disk quota (disk_mib is in the result only then). */
        json_t *args = json_pack("{s:s, s:s}", "environment", "debian:12-base", "command", commands[i]);
        if (i == 0)
            json_set(args, "disk_mib", json_integer(64));
        json_auto_t *res = run_op("vm_run", args);
        check_result("vm_run", res, seen);
    }
    if (vm_ok) {
        json_auto_t *res = run_op("vm_run", json_pack("{s:s, s:s, s:s}", "environment", "debian:12-base", "backend",
                                                      "vm", "command", commands[0]));
        assert_string_equal(json_get_str(res, "execution_mode", ""), "vm");
        check_result("vm_run", res, seen);
    }
    check_all_seen("vm_run", seen);
}

static void test_vm_exec(void **state)
{
    json_auto_t *seen = json_object();
    /* The last round on the vm backend, where the host can run it. */
    for (size_t i = 0; i < ARRAY_SIZE(commands) + vm_ok; i++) {
        bool on_vm = i == ARRAY_SIZE(commands);
        json_t *args = json_pack("{s:s, s:s}", "environment", "debian:12-base", "backend", on_vm ? "vm" : "sandbox");
        if (i == 0) /* with a disk quota: disk_mib is in the result only then */
            json_set(args, "disk_mib", json_integer(64));
        json_auto_t *vm = run_op("vm_create", args);
        const char *id = json_get_str(vm, "vm_id", "");
        json_auto_t *started = run_op("vm_start", json_pack("{s:s}", "vm_id", id));
        assert_non_null(started);
        /* vm_exec deletes the VM afterwards. */
        json_auto_t *res = run_op("vm_exec", json_pack("{s:s, s:s}", "vm_id", id, "command", commands[on_vm ? 0 : i]));
        assert_string_equal(json_get_str(res, "execution_mode", ""), on_vm ? "vm" : "sandbox");
        check_result("vm_exec", res, seen);
    }
    check_all_seen("vm_exec", seen);
}

static void test_workspace_exec(void **state)
{
    json_auto_t *seen = json_object();
    json_auto_t *ws = run_op("workspace_create", json_pack("{s:s}", "environment", "debian:12-base"));
    const char *id = json_get_str(ws, "workspace_id", "");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        json_auto_t *res = run_op("workspace_exec",
                                  json_pack("{s:s, s:s}", "workspace_id", id, "command", commands[i]));
        check_result("workspace_exec", res, seen);
    }
    json_auto_t *del = run_op("workspace_delete", json_pack("{s:s}", "workspace_id", id));
    assert_non_null(del);
    if (vm_ok) {
        json_auto_t *vws = run_op("workspace_create",
                                  json_pack("{s:s, s:s}", "environment", "debian:12-base", "backend", "vm"));
        const char *vid = json_get_str(vws, "workspace_id", "");
        json_auto_t *res = run_op("workspace_exec",
                                  json_pack("{s:s, s:s}", "workspace_id", vid, "command", commands[0]));
        assert_string_equal(json_get_str(res, "execution_mode", ""), "vm");
        check_result("workspace_exec", res, seen);
        json_auto_t *vdel = run_op("workspace_delete", json_pack("{s:s}", "workspace_id", vid));
        assert_non_null(vdel);
    }
    check_all_seen("workspace_exec", seen);
}

/* A failed test must not leave sandboxes running once their state is
 * gone: deletes every VM and workspace that remains. */
static void delete_leftovers(const char *kind, const char *op, const char *id_key)
{
    _cleanup_free_ char *dir = xasprintf("%s/%s", tmp, kind);
    _cleanup_closedir_ DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        json_auto_t *args = json_pack("{s:s}", id_key, de->d_name);
        json_auto_t *valid = NULL;
        json_t *res = NULL;
        pyro_error err = {0};
        const struct contract_op *o = contract_op_find(op);
        if (contract_args_validate(o, args, SURFACE_ALL, &valid, &err) == 0 && o->handler(ctx, valid, &res, &err) == 0)
            json_decref(res);
    }
}

int main(void)
{
    const char *build = getenv("PYRO_TEST_BUILD_DIR");
    _cleanup_free_ char *agent = xasprintf("%s/pyro-agent", build ? build : ".");
    if (access(agent, X_OK) < 0) {
        fprintf(stderr, "skip: %s missing (this build has no static agent)\n", agent);
        return 77;
    }
    setenv("PYRO_AGENT", agent, 1);
    const char *cache = getenv("PYRO_TEST_CACHE");
    if (cache && cache[0])
        setenv("XDG_CACHE_HOME", cache, 1);
    snprintf(tmp, sizeof(tmp), "/tmp/pyro-test-results.XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    setenv("PYRO_HOME", tmp, 1);
    _cleanup_free_ char *qemu = NULL;
    vm_ok = proc_find_program("qemu-system-x86_64", &qemu, NULL) == 0 && geteuid() == 0;
    if (!vm_ok)
        fprintf(stderr, "note: qemu-system-x86_64 missing or not root (the vm backend needs root): the vm backend's "
                        "results are not checked\n");
    pyro_error err = {0};
    if (pyro_ctx_new(&ctx, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vm_run),
        cmocka_unit_test(test_vm_exec),
        cmocka_unit_test(test_workspace_exec),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    delete_leftovers("vms", "vm_delete", "vm_id");
    delete_leftovers("workspaces", "workspace_delete", "workspace_id");
    pyro_ctx_free(ctx);
    (void)rm_rf(tmp, &err);
    return r;
}
