/* Where an ordinary user's cgroups go (backend/cgroups_user.c, cgroups.c),
 * fed fixtures: /proc/self/cgroup texts, cgroup.controllers texts, and a
 * fake cgroup2 tree whose delegated cgroups are the ones the test's uid owns
 * and may write (as systemd chowns a Delegate=yes unit's directory,
 * cgroup.procs and cgroup.subtree_control). The real kernel path is
 * tests/integration/test_cgroup_delegation.sh, in a VM. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "backend/cgroups.h"
#include "base/cleanup.h"
#include "base/mountinfo.h"
#include "base/paths.h"

static char tmpdir[] = "/tmp/pyro-test-cgroups.XXXXXX";
static char mnt[64];

#define USER_SVC "/user.slice/user-1000.slice/user@1000.service"
#define SESSION "/user.slice/user-1000.slice/session-2.scope"

/* path below the fixture mount (a static buffer). */
static const char *mpath(const char *path)
{
    static char buf[CGROUPS_PATH_MAX];
    snprintf(buf, sizeof(buf), "%s%s", mnt, path);
    return buf;
}

static void put(const char *dir, const char *name, const char *text, mode_t mode)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
    (void)unlink(p); /* a read-only one is replaced, also as a user */
    _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
}

/* A cgroup of the fixture tree: delegated (ours and writable) or not. */
static void cgroup(const char *path, bool delegated, const char *controllers)
{
    _cleanup_free_ char *dir = xasprintf("%s%s", mnt, path);
    assert_int_equal(mkdir_p(dir, 0755, NULL), 0);
    mode_t m = delegated ? 0644 : 0444;
    put(dir, "cgroup.procs", "", m);
    put(dir, "cgroup.subtree_control", "", m);
    put(dir, "cgroup.controllers", controllers, 0444);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(mnt, sizeof(mnt), "%s/cg", tmpdir);
    cgroup("", false, "cpuset cpu io memory pids");
    cgroup("/user.slice", false, "cpu memory pids");
    cgroup("/user.slice/user-1000.slice", false, "cpu memory pids");
    cgroup(SESSION, false, "cpu memory pids");
    cgroup(USER_SVC, true, "memory pids");
    cgroup(USER_SVC "/app.slice", true, "memory pids");
    cgroup(USER_SVC "/app.slice/run-r1.scope", true, "memory pids");
    /* ours, but its parent is not writable: not part of the subtree */
    cgroup(USER_SVC "/app.slice/run-r1.scope/ro", false, "");
    cgroup(USER_SVC "/app.slice/run-r1.scope/ro/inner", true, "");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return rm_rf(tmpdir, NULL);
}

static void test_self_path(void **state)
{
    (void)state;
    char path[64];
    assert_int_equal(cgroups_self_path("12:pids:/x\n0::" SESSION "\n", path, sizeof(path)), 0);
    assert_string_equal(path, SESSION);
    assert_int_equal(cgroups_self_path("4:memory:/a\n1:cpu:/\n", path, sizeof(path)), -ENOENT);
    assert_int_equal(cgroups_self_path("0::/\n", path, sizeof(path)), 0);
    assert_string_equal(path, "/");
    assert_int_equal(cgroups_self_path("0::\n", path, sizeof(path)), -EINVAL);
    assert_int_equal(cgroups_self_path("0::relative\n", path, sizeof(path)), -EINVAL);
    assert_int_equal(cgroups_self_path("0::/a/../b\n", path, sizeof(path)), -EINVAL);
    assert_int_equal(cgroups_self_path("0::/a//b\n", path, sizeof(path)), -EINVAL);
    assert_int_equal(cgroups_self_path("0::/" USER_SVC USER_SVC "\n", path, 16), -EINVAL); /* too long */
}

static void test_controllers(void **state)
{
    (void)state;
    assert_int_equal(cgroups_ctl_parse("cpuset cpu io memory pids"), CGROUPS_ALL);
    assert_int_equal(cgroups_ctl_parse("cpuset io memory_x hugetlb"), 0); /* whole words only */
    assert_int_equal(cgroups_ctl_parse(""), 0);
    assert_int_equal(cgroups_ctl_parse("memory pids\n"), CGROUPS_MEMORY | CGROUPS_PIDS);
    char buf[64];
    assert_int_equal(cgroups_ctl_list(CGROUPS_ALL, " +", buf, sizeof(buf)), strlen("memory +pids +cpu"));
    assert_string_equal(buf, "memory +pids +cpu");
    cgroups_ctl_list(CGROUPS_CPU, ", ", buf, sizeof(buf));
    assert_string_equal(buf, "cpu");
    assert_int_equal(cgroups_ctl_list(0, ", ", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
}

static void test_delegated_find(void **state)
{
    (void)state;
    uid_t uid = geteuid();
    char out[CGROUPS_PATH_MAX];
    /* From a scope below user@1000.service up to it: the highest
     * ancestor that is ours, whose parent (user-1000.slice) is not. */
    assert_int_equal(cgroups_delegated_find(mnt, USER_SVC "/app.slice/run-r1.scope", uid, out, sizeof(out)), 0);
    assert_string_equal(out, mpath(USER_SVC));
    assert_int_equal(cgroups_delegated_find(mnt, USER_SVC, uid, out, sizeof(out)), 0);
    assert_string_equal(out, mpath(USER_SVC));
    /* Delegation stops at a cgroup that is not ours. */
    assert_int_equal(cgroups_delegated_find(mnt, USER_SVC "/app.slice/run-r1.scope/ro/inner", uid, out, sizeof(out)),
                     0);
    assert_string_equal(out, mpath(USER_SVC "/app.slice/run-r1.scope/ro/inner"));
    /* An ssh session's scope, the root cgroup, another uid, a missing one. */
    assert_int_equal(cgroups_delegated_find(mnt, SESSION, uid, out, sizeof(out)), -ENOENT);
    assert_int_equal(cgroups_delegated_find(mnt, "/", uid, out, sizeof(out)), -ENOENT);
    assert_int_equal(cgroups_delegated_find(mnt, USER_SVC, uid + 1, out, sizeof(out)), -ENOENT);
    assert_int_equal(cgroups_delegated_find(mnt, USER_SVC "/gone", uid, out, sizeof(out)), -ENOENT);
    assert_int_equal(cgroups_delegated_find(mnt, "relative", uid, out, sizeof(out)), -EINVAL);
    assert_int_equal(cgroups_delegated_find(mnt, USER_SVC, uid, out, 8), -EINVAL); /* too long for out */
}

static void test_user_decide(void **state)
{
    (void)state;
    uid_t uid = geteuid();
    struct cgroups_user u;
    /* A hybrid host (this build machine): nothing can be delegated. */
    cgroups_user_decide(mnt, CGROUPS_ALL, "0::" USER_SVC "\n", uid, &u);
    assert_string_equal(u.base, "");
    assert_non_null(strstr(u.why, "memory, pids, cpu as cgroup v1 hierarchies (hybrid)"));
    assert_non_null(strstr(u.fix, "systemd.unified_cgroup_hierarchy=1"));
    cgroups_user_decide(NULL, 0, "0::" USER_SVC "\n", uid, &u);
    assert_string_equal(u.base, "");
    assert_non_null(strstr(u.why, "no cgroup2 hierarchy"));
    /* An ssh session: not delegated; the fix is a delegated scope. */
    cgroups_user_decide(mnt, 0, "0::" SESSION "\n", uid, &u);
    assert_string_equal(u.base, "");
    assert_non_null(strstr(u.why, SESSION " is not delegated to uid"));
    assert_non_null(strstr(u.fix, "systemd-run --user --scope -p Delegate=yes"));
    cgroups_user_decide(mnt, 0, "1:name=systemd:/\n", uid, &u);
    assert_string_equal(u.base, "");
    assert_non_null(strstr(u.why, "no cgroup2 path"));
    /* Under user@1000.service, which offers memory and pids: cpu is
     * missing, and said so with the drop-in that delegates it. */
    cgroups_user_decide(mnt, 0, "0::" USER_SVC "/app.slice/run-r1.scope\n", uid, &u);
    assert_string_equal(u.base, mpath(USER_SVC));
    assert_int_equal(u.ctl, CGROUPS_MEMORY | CGROUPS_PIDS);
    assert_non_null(strstr(u.why, "cpu is not delegated to"));
    assert_non_null(strstr(u.fix, "Delegate=cpu memory pids"));
    /* All three offered: nothing to say. */
    _cleanup_free_ char *svc = xasprintf("%s%s", mnt, USER_SVC);
    put(svc, "cgroup.controllers", "cpu memory pids\n", 0444);
    cgroups_user_decide(mnt, 0, "0::" USER_SVC "/app.slice/run-r1.scope\n", uid, &u);
    assert_int_equal(u.ctl, CGROUPS_ALL);
    assert_string_equal(u.why, "");
    assert_string_equal(u.fix, "");
    /* pids bound to v1 alone: memory and cpu delegated, pids not. */
    cgroups_user_decide(mnt, CGROUPS_PIDS, "0::" USER_SVC "\n", uid, &u);
    assert_int_equal(u.ctl, CGROUPS_MEMORY | CGROUPS_CPU);
    assert_non_null(strstr(u.why, "pids as cgroup v1"));
    put(svc, "cgroup.controllers", "memory pids", 0444);
}

static void test_plans(void **state)
{
    (void)state;
    struct cgroups_user u = {.ctl = CGROUPS_MEMORY | CGROUPS_PIDS};
    snprintf(u.base, sizeof(u.base), "%s%s", mnt, USER_SVC);
    struct cgroups cg;
    cgroups_plan_user(&u, "pyro", "ab12", &cg);
    assert_int_equal(cg.version, 2);
    assert_int_equal(cg.count, 1);
    assert_string_equal(cg.paths[0], mpath(USER_SVC "/pyro/ab12"));
    assert_string_equal(cg.base, u.base);
    assert_int_equal(cgroups_unenforced(&cg), CGROUPS_CPU);
    cgroups_free(&cg);
    /* No base, or no controller: an empty plan, nothing enforced. */
    u.ctl = 0;
    cgroups_plan_user(&u, "pyro", "ab12", &cg);
    assert_int_equal(cg.count, 0);
    assert_int_equal(cg.version, 0);
    assert_int_equal(cgroups_unenforced(&cg), CGROUPS_ALL);
    cgroups_free(&cg);
    u.base[0] = '\0';
    u.ctl = CGROUPS_ALL;
    cgroups_plan_user(&u, "pyro", "ab12", &cg);
    assert_int_equal(cg.count, 0);
    cgroups_free(&cg);
    /* A failed creation drops the plan whole and says why. */
    snprintf(u.base, sizeof(u.base), "%s/missing", tmpdir);
    cgroups_plan_user(&u, "pyro", "ab12", &cg);
    assert_int_equal(cg.count, 1);
    struct cgroups_limits lim = {1, 64, 16, 0, false};
    cgroups_create_user(&cg, &lim, &u);
    assert_int_equal(cg.count, 0);
    assert_int_equal(cgroups_unenforced(&cg), CGROUPS_ALL);
    assert_non_null(strstr(u.why, "could not make a cgroup in"));
    assert_non_null(strstr(u.fix, "cgroup_delegation"));
    _cleanup_free_ char *made = xasprintf("%s/missing/pyro/ab12", tmpdir);
    assert_int_equal(access(made, F_OK), -1); /* nothing half-made left */
    cgroups_free(&cg);
}

/* A recorded cgroup (sandbox.json) is used for removal only when it is a
 * canonical path on the cgroup2 mount ending in /<parent>/<id>. */
static void test_recorded(void **state)
{
    (void)state;
    struct cgroups cg;
    assert_int_equal(cgroups_plan_recorded("relative/pyro/ab12", "pyro", "ab12", &cg, NULL), -PYRO_E_CORRUPT);
    assert_int_equal(cgroups_plan_recorded("/x/../pyro/ab12", "pyro", "ab12", &cg, NULL), -PYRO_E_CORRUPT);
    assert_int_equal(cgroups_plan_recorded("/x/pyro/other", "pyro", "ab12", &cg, NULL), -PYRO_E_CORRUPT);
    assert_int_equal(cgroups_plan_recorded("/pyro/ab12", "pyro", "ab12", &cg, NULL), -PYRO_E_CORRUPT);
    assert_int_equal(cgroups_plan_recorded("/tmp/x/pyro/ab12", "pyro", "ab12", &cg, NULL), -PYRO_E_CORRUPT);
    struct mountinfo_cgroups m;
    if (mountinfo_cgroups(MOUNTINFO_PATH, &m, NULL) == 0 && m.v2) {
        _cleanup_free_ char *ok = xasprintf("%s/user.slice/pyro/ab12", m.v2);
        assert_int_equal(cgroups_plan_recorded(ok, "pyro", "ab12", &cg, NULL), 0);
        assert_int_equal(cg.count, 1);
        assert_string_equal(cg.paths[0], ok);
        cgroups_free(&cg);
        _cleanup_free_ char *bare = xasprintf("%s/pyro/ab12x", m.v2);
        assert_int_equal(cgroups_plan_recorded(bare, "pyro", "ab12", &cg, NULL), -PYRO_E_CORRUPT);
    }
    mountinfo_cgroups_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_path),   cmocka_unit_test(test_controllers), cmocka_unit_test(test_delegated_find),
        cmocka_unit_test(test_user_decide), cmocka_unit_test(test_plans),       cmocka_unit_test(test_recorded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
