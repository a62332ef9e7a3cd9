/* Instances on disk without a sandbox: create, open, the lock, and
 * _cleanup_instance_; abandoned creates and deletes, a delete that fails
 * midway, usage and the host-wide caps (the settings and their checks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/lock.h"
#include "base/paths.h"
#include "base/proc.h"
#include "base/record.h"
#include "lib/contract/ctx.h"
#include "lib/vm/instance.h"

static char tmpdir[256];
static struct pyro_ctx *ctx;

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pyro-test-instance.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    setenv("PYRO_HOME", tmpdir, 1);
    pyro_error err = {0};
    return pyro_ctx_new(&ctx, &err);
}

static int teardown(void **state)
{
    (void)state;
    pyro_ctx_free(ctx);
    return rm_rf(tmpdir, NULL);
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

/* A new instance, closed again; returns its id (static buffer). */
static const char *make_instance(void)
{
    static char id[64];
    json_auto_t *rec = json_pack("{s:s}", "state", "created");
    struct instance inst;
    pyro_error err = {0};
    assert_int_equal(instance_create(ctx, "vms", rec, &inst, &err), 0);
    snprintf(id, sizeof(id), "%s", inst.id);
    instance_close(&inst);
    return id;
}

static void test_close_unopened(void **state)
{
    (void)state;
    /* A zeroed instance holds nothing: fd 0 (its lock_fd) stays open. */
    if (!fd_open(0))
        assert_int_equal(open("/dev/null", O_RDONLY), 0);
    struct instance z = {0};
    instance_close(&z);
    assert_true(fd_open(0));
    {
        _cleanup_instance_ struct instance scoped = {0};
        (void)scoped;
    }
    assert_true(fd_open(0));
}

static void test_cleanup_releases(void **state)
{
    (void)state;
    const char *id = make_instance();
    int lock_fd;
    {
        _cleanup_instance_ struct instance inst = {0};
        pyro_error err = {0};
        assert_int_equal(instance_open(ctx, "vms", id, &inst, &err), 0);
        lock_fd = inst.lock_fd;
        assert_true(lock_fd > 2);
        assert_true(fd_open(lock_fd));
        /* Closing by hand first is fine: the cleanup then does nothing. */
        instance_close(&inst);
        assert_false(fd_open(lock_fd));
        assert_null(inst.dir);
        assert_int_equal(instance_open(ctx, "vms", id, &inst, &err), 0);
        lock_fd = inst.lock_fd;
    }
    /* The scope closed it: the lock is free for the next opener. */
    assert_false(fd_open(lock_fd));
    _cleanup_instance_ struct instance again = {0};
    pyro_error err = {0};
    assert_int_equal(instance_open(ctx, "vms", id, &again, &err), 0);
}

static void test_failed_open_leaves_nothing(void **state)
{
    (void)state;
    _cleanup_instance_ struct instance inst = {0};
    pyro_error err = {0};
    assert_int_equal(instance_open(ctx, "vms", "nosuchid", &inst, &err), -PYRO_E_NOT_FOUND);
    assert_null(inst.dir);
    assert_int_equal(instance_open(ctx, "vms", "../x", &inst, &err), -PYRO_E_INVALID);
    assert_null(inst.dir);
}

/* instance_unlock frees the lock for others while inst keeps its record;
 * instance_relock takes it again and re-reads what others changed. */
static void test_unlock_relock(void **state)
{
    (void)state;
    const char *id = make_instance();
    _cleanup_instance_ struct instance inst = {0};
    pyro_error err = {0};
    assert_int_equal(instance_open(ctx, "vms", id, &inst, &err), 0);
    assert_true(instance_locked(&inst));
    _cleanup_close_ int held = dirlock(inst.dir, PYRO_LOCK_EXCLUSIVE, 0, &err);
    assert_int_equal(held, -PYRO_E_BUSY);
    instance_unlock(&inst);
    assert_false(instance_locked(&inst));
    assert_string_equal(json_get_str(inst.rec, "state", ""), "created");
    {
        /* Someone else opens it meanwhile and changes the record. */
        _cleanup_instance_ struct instance other = {0};
        assert_int_equal(instance_open(ctx, "vms", id, &other, &err), 0);
        json_set(other.rec, "name", json_string("changed"));
        assert_int_equal(instance_save(&other, &err), 0);
    }
    /* It never ran, so the sandbox "changed" (there is none): -PYRO_E_STATE
     * with the lock held and the record re-read. */
    int r = instance_relock(&inst, "the command ran", &err);
    assert_int_equal(r, -PYRO_E_STATE);
    assert_true(instance_locked(&inst));
    assert_non_null(strstr(err.message, "while the command ran"));
    assert_string_equal(json_get_str(inst.rec, "name", ""), "changed");
    held = dirlock(inst.dir, PYRO_LOCK_EXCLUSIVE, 0, &err);
    assert_int_equal(held, -PYRO_E_BUSY);
}

/* Deleted while unlocked: relock says so, holds nothing and writes nothing
 * (the directory is not created again). */
static void test_relock_deleted(void **state)
{
    (void)state;
    const char *id = make_instance();
    _cleanup_instance_ struct instance inst = {0};
    pyro_error err = {0};
    assert_int_equal(instance_open(ctx, "vms", id, &inst, &err), 0);
    instance_unlock(&inst);
    {
        _cleanup_instance_ struct instance other = {0};
        assert_int_equal(instance_open(ctx, "vms", id, &other, &err), 0);
        _cleanup_free_ char *rp = xasprintf("%s/record.json", other.dir);
        assert_int_equal(unlink(rp), 0);
        assert_int_equal(rm_rf(other.dir, &err), 0);
    }
    int r = instance_relock(&inst, "the command ran", &err);
    assert_int_equal(r, -PYRO_E_NOT_FOUND);
    assert_false(instance_locked(&inst));
    assert_non_null(strstr(err.message, "was deleted while the command ran"));
    assert_int_equal(access(inst.dir, F_OK), -1);

    /* A record removed while the directory is still there (a delete
     * midway) counts as deleted too; the lock is not kept. */
    id = make_instance();
    _cleanup_instance_ struct instance half = {0};
    assert_int_equal(instance_open(ctx, "vms", id, &half, &err), 0);
    instance_unlock(&half);
    _cleanup_free_ char *rp = xasprintf("%s/record.json", half.dir);
    assert_int_equal(unlink(rp), 0);
    assert_int_equal(instance_relock(&half, "the command ran", &err), -PYRO_E_NOT_FOUND);
    assert_false(instance_locked(&half));
    assert_int_equal(access(rp, F_OK), -1);
}

/* A process identity that no longer runs: a child that exited. */
static json_t *dead_owner(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    int64_t st = proc_start_time(pid);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return json_pack("{s:i, s:I}", "pid", (int)pid, "start_time", (json_int_t)(st > 0 ? st : 1));
}

static void test_try_open_busy(void **state)
{
    (void)state;
    const char *id = make_instance();
    _cleanup_instance_ struct instance held = {0}, other = {0};
    pyro_error err = {0};
    assert_int_equal(instance_open(ctx, "vms", id, &held, &err), 0);
    /* Reap never waits for an instance someone works on. */
    assert_int_equal(instance_open_wait(ctx, "vms", id, 0, &other, &err), -PYRO_E_BUSY);
    assert_null(other.dir);
    instance_close(&held);
    assert_int_equal(instance_open_wait(ctx, "vms", id, 0, &other, &err), 0);
}

static void test_abandoned(void **state)
{
    (void)state;
    struct instance tmp = {0};
    json_auto_t *rec = json_pack("{s:s}", "state", "creating");
    tmp.rec = rec;
    /* Its creator runs: not abandoned. */
    instance_own(rec);
    assert_null(instance_abandoned(&tmp));
    assert_int_equal(json_get_int(json_object_get(rec, "owner"), "pid", 0), getpid());
    json_set(rec, "owner", dead_owner());
    assert_string_equal(instance_abandoned(&tmp), "create_interrupted");
    json_set(rec, "state", json_string("deleting"));
    assert_string_equal(instance_abandoned(&tmp), "delete_interrupted");
    /* A delete that gave up (no owner) is abandoned too. */
    json_object_del(rec, "owner");
    assert_string_equal(instance_abandoned(&tmp), "delete_interrupted");
    /* A run is abandoned only when its named owner is gone. */
    json_set(rec, "state", json_string("started"));
    json_set(rec, "ephemeral", json_true());
    assert_null(instance_abandoned(&tmp));
    json_set(rec, "owner", dead_owner());
    assert_string_equal(instance_abandoned(&tmp), "run_interrupted");
    json_object_del(rec, "ephemeral");
    assert_null(instance_abandoned(&tmp));
}

/* An instance whose removal fails midway (a mount point inside it, which
 * unlink cannot remove) keeps its record, marked "deleting", without an
 * owner: listed and reapable. A second destroy finishes it. */
static void test_destroy_failure_keeps_record(void **state)
{
    (void)state;
    json_auto_t *rec = json_pack("{s:s}", "state", "created");
    struct instance inst;
    pyro_error err = {0};
    assert_int_equal(instance_create(ctx, "vms", rec, &inst, &err), 0);
    char id[64], sub[512], data[512];
    snprintf(id, sizeof(id), "%s", inst.id);
    snprintf(sub, sizeof(sub), "%s/busy", inst.dir);
    snprintf(data, sizeof(data), "%s/data", inst.dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(mkdir(data, 0700), 0);
    if (mount("none", sub, "tmpfs", 0, "size=1m") < 0) {
        instance_close(&inst);
        skip(); /* needs CAP_SYS_ADMIN to mount */
    }
    int r = instance_destroy(&inst, &err);
    instance_close(&inst);
    umount2(sub, MNT_DETACH);
    assert_true(r < 0);
    _cleanup_instance_ struct instance again = {0};
    assert_int_equal(instance_open_wait(ctx, "vms", id, 0, &again, &err), 0);
    assert_string_equal(instance_state(&again), "deleting");
    assert_null(json_object_get(again.rec, "owner"));
    assert_string_equal(instance_abandoned(&again), "delete_interrupted");
    assert_int_equal(instance_destroy(&again, &err), 0);
    struct stat st;
    assert_int_equal(stat(again.dir, &st), -1);
}

/* A fake running instance: its "monitor" is this process. */
static void make_running(const char *state, int mem, int vcpus, json_t *owner)
{
    json_auto_t *rec = json_pack("{s:s, s:i, s:i}", "state", state, "mem_mib", mem, "vcpu_count", vcpus);
    if (owner)
        json_set(rec, "owner", owner);
    struct instance inst;
    pyro_error err = {0};
    assert_int_equal(instance_create(ctx, "workspaces", rec, &inst, &err), 0);
    json_auto_t *mon = json_pack("{s:i, s:I, s:s}", "pid", (int)getpid(), "start_time",
                                 (json_int_t)proc_start_time(getpid()), "state", "running");
    _cleanup_free_ char *mp = xasprintf("%s/monitor.json", inst.dir);
    assert_int_equal(record_save(mp, mon, &err), 0);
    instance_close(&inst);
}

static void test_usage_and_caps(void **state)
{
    (void)state;
    _cleanup_free_ char *ws = xasprintf("%s/workspaces", tmpdir);
    _cleanup_free_ char *vms = xasprintf("%s/vms", tmpdir);
    rm_rf(ws, NULL);
    rm_rf(vms, NULL);
    make_running("started", 512, 2, NULL);
    make_running("creating", 1024, 1, dead_owner());
    (void)make_instance(); /* not running: not counted */
    struct instance_usage u;
    pyro_error err = {0};
    assert_int_equal(instance_count_running(ctx, &u, &err), 2);
    assert_int_equal(u.running, 2);
    assert_int_equal(u.abandoned, 1);
    assert_int_equal(u.mem_mib, 1536);
    assert_int_equal(u.vcpus, 3);

    ctx->max_total_mem_mib = 2048;
    ctx->max_total_vcpus = 4;
    ctx->max_active_vms = 8;
    assert_int_equal(instance_check_size(ctx, 4, 2048, &err), 0);
    assert_int_equal(instance_check_size(ctx, 1, 2049, &err), -PYRO_E_LIMIT);
    assert_non_null(strstr(err.message, "max_total_mem_mib is 2048 MiB"));
    assert_int_equal(instance_check_size(ctx, 5, 128, &err), -PYRO_E_LIMIT);
    assert_non_null(strstr(err.message, "max_total_vcpus is 4"));

    /* A start that would pass a cap is refused before anything runs. */
    json_auto_t *rec = json_pack("{s:s, s:i, s:i, s:s}", "state", "created", "mem_mib", 1024, "vcpu_count", 1,
                                 "expires_at", "2999-01-01T00:00:00Z");
    _cleanup_instance_ struct instance inst = {0};
    assert_int_equal(instance_create(ctx, "vms", rec, &inst, &err), 0);
    assert_int_equal(instance_start(ctx, &inst, &err), -PYRO_E_LIMIT);
    assert_non_null(strstr(err.message, "to 2560 MiB, above the cap max_total_mem_mib of 2048 MiB"));
    assert_non_null(strstr(err.message, "1 of them left by a killed create"));
    ctx->max_total_mem_mib = 4096;
    json_set(inst.rec, "vcpu_count", json_integer(2));
    assert_int_equal(instance_start(ctx, &inst, &err), -PYRO_E_LIMIT);
    assert_non_null(strstr(err.message, "vCPUs of running sandboxes to 5, above the cap max_total_vcpus of 4"));
    ctx->max_active_vms = 2;
    assert_int_equal(instance_start(ctx, &inst, &err), -PYRO_E_LIMIT);
    assert_non_null(strstr(err.message, "the limit max_active_vms is 2"));
    assert_string_equal(json_get_str(inst.rec, "state", ""), "created");
    rm_rf(ws, NULL);
}

static void test_settings(void **state)
{
    (void)state;
    struct pyro_ctx *c = NULL;
    pyro_error err = {0};
    unsetenv("PYRO_MAX_TOTAL_MEM_MIB");
    unsetenv("PYRO_MAX_TOTAL_VCPUS");
    assert_int_equal(pyro_ctx_new(&c, &err), 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(c->max_total_vcpus, 4 * cpus);
    assert_true(c->host_mem_mib > 0);
    assert_int_equal(c->max_total_mem_mib, c->host_mem_mib * 75 / 100);
    assert_false(c->max_total_mem_from_env);
    pyro_ctx_free(c);
    setenv("PYRO_MAX_TOTAL_MEM_MIB", "2560", 1);
    setenv("PYRO_MAX_TOTAL_VCPUS", "3", 1);
    assert_int_equal(pyro_ctx_new(&c, &err), 0);
    assert_int_equal(c->max_total_mem_mib, 2560);
    assert_int_equal(c->max_total_vcpus, 3);
    assert_true(c->max_total_mem_from_env && c->max_total_vcpus_from_env);
    pyro_ctx_free(c);
    const char *bad[][2] = {{"PYRO_MAX_TOTAL_MEM_MIB", "127"},
                            {"PYRO_MAX_TOTAL_MEM_MIB", "1g"},
                            {"PYRO_MAX_TOTAL_VCPUS", "0"},
                            {"PYRO_MAX_TOTAL_VCPUS", "4097"},
                            {"PYRO_MAX_ACTIVE_VMS", "0"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv(bad[i][0], bad[i][1], 1);
        c = NULL;
        assert_int_equal(pyro_ctx_new(&c, &err), -PYRO_E_INVALID);
        assert_null(c);
        assert_non_null(strstr(err.message, bad[i][0]));
        assert_non_null(strstr(err.message, "must be an integer from"));
        unsetenv(bad[i][0]);
    }
    unsetenv("PYRO_MAX_TOTAL_MEM_MIB");
    unsetenv("PYRO_MAX_TOTAL_VCPUS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_unopened),
        cmocka_unit_test(test_cleanup_releases),
        cmocka_unit_test(test_failed_open_leaves_nothing),
        cmocka_unit_test(test_unlock_relock),
        cmocka_unit_test(test_relock_deleted),
        cmocka_unit_test(test_try_open_busy),
        cmocka_unit_test(test_abandoned),
        cmocka_unit_test(test_destroy_failure_keeps_record),
        cmocka_unit_test(test_usage_and_caps),
        cmocka_unit_test(test_settings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
