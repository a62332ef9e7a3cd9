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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_unopened),
        cmocka_unit_test(test_cleanup_releases),
        cmocka_unit_test(test_failed_open_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
