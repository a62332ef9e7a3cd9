/* Instances on disk without a sandbox: create, open, the lock, and
 * _cleanup_instance_. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/lock.h"
#include "base/paths.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_unopened),
        cmocka_unit_test(test_cleanup_releases),
        cmocka_unit_test(test_failed_open_leaves_nothing),
        cmocka_unit_test(test_unlock_relock),
        cmocka_unit_test(test_relock_deleted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
