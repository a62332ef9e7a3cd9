/* base/idmap: subordinate id files, the root pool, the ownership shift
 * (setuid bits, file capabilities, opaque markers, restart) and the errors
 * a user meets without newuidmap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/idmap.h"
#include "base/paths.h"

static char *tmp;

static char *write_tmp(const char *name, const char *text)
{
    char *p = xasprintf("%s/%s", tmp, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_subid_find(void **state)
{
    _cleanup_free_ char *f = write_tmp("subuid", "# comment\n"
                                                 "alice:100000:65536\n"
                                                 "bob:200000:1000\n"
                                                 "bob:300000:65536\n"
                                                 "1005:400000:70000\n"
                                                 "carol:x:65536\n"
                                                 "dave:0:65536\n");
    unsigned long start = 0;
    uint32_t count = 0;
    assert_int_equal(idmap_subid_find(f, "alice", 1000, 65536, &start, &count, NULL), 0);
    assert_int_equal(start, 100000);
    assert_int_equal(count, 65536);
    /* too small a range is skipped for the next one */
    assert_int_equal(idmap_subid_find(f, "bob", 1001, 65536, &start, &count, NULL), 0);
    assert_int_equal(start, 300000);
    /* by uid */
    assert_int_equal(idmap_subid_find(f, "erin", 1005, 65536, &start, &count, NULL), 0);
    assert_int_equal(start, 400000);
    assert_int_equal(count, 65536);
    /* malformed and zero starts never match; absent users and files */
    assert_int_equal(idmap_subid_find(f, "carol", 1, 65536, &start, &count, NULL), -ENOENT);
    assert_int_equal(idmap_subid_find(f, "dave", 2, 65536, &start, &count, NULL), -ENOENT);
    assert_int_equal(idmap_subid_find(f, "zed", 3, 65536, &start, &count, NULL), -ENOENT);
    _cleanup_free_ char *none = xasprintf("%s/none", tmp);
    assert_int_equal(idmap_subid_find(none, "alice", 1000, 65536, &start, &count, NULL), -ENOENT);
}

static void test_resolve_root(void **state)
{
    if (geteuid() != 0)
        skip();
    struct idmap m;
    unsetenv("PYRO_IDMAP_BASE");
    assert_int_equal(idmap_resolve(&m, NULL), 0);
    assert_false(m.rootless);
    assert_int_equal(m.uid_base, IDMAP_ROOT_POOL_BASE);
    assert_int_equal(m.view_uid_base, IDMAP_ROOT_POOL_BASE);
    assert_int_equal(m.count, IDMAP_COUNT);
    setenv("PYRO_IDMAP_BASE", "300000", 1);
    assert_int_equal(idmap_resolve(&m, NULL), 0);
    assert_int_equal(m.uid_base, 300000);
    pyro_error err = {0};
    setenv("PYRO_IDMAP_BASE", "12", 1);
    assert_int_equal(idmap_resolve(&m, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "PYRO_IDMAP_BASE"));
    setenv("PYRO_IDMAP_BASE", "4294967295", 1);
    assert_int_equal(idmap_resolve(&m, &err), -PYRO_E_INVALID);
    unsetenv("PYRO_IDMAP_BASE");
}

static int set_flag(void *arg, pyro_error *err)
{
    *(int *)arg = 1;
    return 0;
}

/* As a user, without newuidmap: the error names the tool and the fix. */
static void test_missing_newuidmap(void **state)
{
    struct idmap m = {.rootless = true, .uid_base = 100000, .gid_base = 100000, .count = IDMAP_COUNT};
    _cleanup_free_ char *path = xstrdup(getenv("PATH") ? getenv("PATH") : "");
    setenv("PATH", "/nonexistent", 1);
    pyro_error err = {0};
    int r = idmap_write(&m, getpid(), false, &err);
    assert_int_equal(r, -PYRO_E_UNSUPPORTED);
    assert_non_null(strstr(err.message, "newuidmap"));
    assert_non_null(strstr(err.message, "apt-get install uidmap"));
    /* The host view fails the same way, and its child does not wait for
     * a map that never comes. */
    int flag = 0;
    alarm(30);
    r = idmap_run(&m, set_flag, &flag, &err);
    alarm(0);
    setenv("PATH", path, 1);
    assert_int_equal(r, -PYRO_E_UNSUPPORTED);
    assert_non_null(strstr(err.message, "apt-get install uidmap"));
    assert_int_equal(flag, 0);
}

static void test_run_as_root(void **state)
{
    if (geteuid() != 0)
        skip();
    struct idmap m;
    assert_int_equal(idmap_resolve(&m, NULL), 0);
    int flag = 0; /* as root, in this process: the write is seen */
    assert_int_equal(idmap_run(&m, set_flag, &flag, NULL), 0);
    assert_int_equal(flag, 1);
}

static void check_owner(const char *rel, uid_t uid, gid_t gid)
{
    _cleanup_free_ char *p = xasprintf("%s/tree/%s", tmp, rel);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    if (st.st_uid != uid || st.st_gid != gid)
        fail_msg("%s: %u:%u, want %u:%u", rel, (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)uid, (unsigned)gid);
}

static void test_shift_tree(void **state)
{
    if (geteuid() != 0)
        skip(); /* chown to other users */
    const uid_t to = IDMAP_ROOT_POOL_BASE;
    _cleanup_free_ char *t = xasprintf("%s/tree", tmp);
    _cleanup_free_ char *sub = xasprintf("%s/tree/etc", tmp);
    _cleanup_free_ char *sh = xasprintf("%s/tree/etc/shadow", tmp);
    _cleanup_free_ char *su = xasprintf("%s/tree/su", tmp);
    _cleanup_free_ char *ping = xasprintf("%s/tree/ping", tmp);
    _cleanup_free_ char *other = xasprintf("%s/tree/other", tmp);
    _cleanup_free_ char *lnk = xasprintf("%s/tree/link", tmp);
    assert_int_equal(mkdir(t, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(close(open(sh, O_CREAT | O_WRONLY, 0640)), 0);
    assert_int_equal(chown(sh, 0, 42), 0);
    assert_int_equal(close(open(su, O_CREAT | O_WRONLY, 0755)), 0);
    assert_int_equal(chmod(su, 04755), 0);
    assert_int_equal(close(open(ping, O_CREAT | O_WRONLY, 0755)), 0);
    struct vfs_cap_data v2 = {.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE};
    v2.data[0].permitted = 1u << CAP_NET_RAW;
    assert_int_equal(setxattr(ping, "security.capability", &v2, XATTR_CAPS_SZ_2, 0), 0);
    assert_int_equal(close(open(other, O_CREAT | O_WRONLY, 0644)), 0);
    assert_int_equal(chown(other, 70000, 70000), 0); /* outside the range: stays */
    assert_int_equal(symlink("/etc/passwd", lnk), 0);
    assert_int_equal(setxattr(sub, "trusted.overlay.opaque", "y", 1, 0), 0);

    assert_false(idmap_tree_shifted(t, to));
    pyro_error err = {0};
    assert_int_equal(idmap_shift_tree(t, 0, 0, to, to, IDMAP_COUNT, &err), 0);
    assert_true(idmap_tree_shifted(t, to));
    check_owner("", to, to);
    check_owner("etc", to, to);
    check_owner("etc/shadow", to, to + 42);
    check_owner("link", to, to); /* the link itself, not its target */
    check_owner("other", 70000, 70000);
    struct stat st;
    assert_int_equal(stat(su, &st), 0);
    assert_int_equal(st.st_mode & 07777, 04755); /* chown cleared it: put back */
    struct vfs_ns_cap_data v3;
    assert_int_equal(getxattr(ping, "security.capability", &v3, sizeof(v3)), (ssize_t)XATTR_CAPS_SZ_3);
    assert_int_equal(v3.magic_etc & VFS_CAP_REVISION_MASK, VFS_CAP_REVISION_3);
    assert_int_equal(v3.rootid, to);
    assert_int_equal(v3.data[0].permitted, 1u << CAP_NET_RAW);
    char v[4] = "";
    assert_int_equal(getxattr(sub, "user.overlay.opaque", v, sizeof(v)), 1);
    assert_int_equal(v[0], 'y');
    /* restartable: a second pass changes nothing */
    assert_int_equal(idmap_shift_tree(t, 0, 0, to, to, IDMAP_COUNT, &err), 0);
    check_owner("etc/shadow", to, to + 42);
    /* and back */
    assert_int_equal(idmap_shift_tree(t, to, to, 0, 0, IDMAP_COUNT, &err), 0);
    check_owner("etc/shadow", 0, 42);
    check_owner("", 0, 0);
    /* overlapping ranges are refused */
    assert_int_equal(idmap_shift_tree(t, 0, 0, 1000, 1000, IDMAP_COUNT, &err), -PYRO_E_INVALID);
}

static void test_rm_rf(void **state)
{
    _cleanup_free_ char *d = xasprintf("%s/gone/a/b", tmp);
    _cleanup_free_ char *top = xasprintf("%s/gone", tmp);
    assert_int_equal(mkdir_p(d, 0700, NULL), 0);
    assert_int_equal(idmap_rm_rf(top, NULL), 0);
    assert_int_equal(access(top, F_OK), -1);
    assert_int_equal(idmap_rm_rf(top, NULL), 0); /* absent is fine */
}

int main(void)
{
    char tmpl[] = "/tmp/pyro-test-idmap.XXXXXX";
    tmp = mkdtemp(tmpl);
    if (!tmp)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subid_find),        cmocka_unit_test(test_resolve_root),
        cmocka_unit_test(test_missing_newuidmap), cmocka_unit_test(test_run_as_root),
        cmocka_unit_test(test_shift_tree),        cmocka_unit_test(test_rm_rf),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rm_rf(tmp, NULL);
    return rc;
}
