/* The parsing and decisions behind doctor's rootless checks, fed fixtures:
 * subuid/subgid files (through idmap_subid_find, as idmap_resolve reads
 * them), passwd and group files, file capabilities (cgroup texts and the
 * delegated cgroup: test_cgroups.c); then the
 * rootless summary and the sandbox limits from a filled report, and the
 * overlay-in-a-user-namespace probe for real. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/idmap.h"
#include "base/json.h"
#include "base/paths.h"
#include "lib/host/doctor.h"
#include "lib/host/host_probe.h"
#include "lib/host/rootless_probe.h"
#include "lib/host/subid.h"

static char tmpdir[] = "/tmp/pyro-test-doctor-rootless.XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(tmpdir, NULL);
    return 0;
}

/* Writes a fixture file in the temp dir; returns its malloc'ed path. */
static char *fixture(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void test_ranges_read(void **state)
{
    (void)state;
    _cleanup_free_ char *f = fixture("ranges", "alice:100000:65536\n"
                                               "# a comment is not a range\n"
                                               "bob:165536:1000\n"
                                               "broken:12:\n"
                                               "zero:300000:0\n"
                                               "neg:-5:10\n"
                                               "extra:1:2:3\n"
                                               "1001:200000:65536\n");
    _cleanup_free_ struct idmap_subid *r = NULL;
    size_t n = 0;
    assert_int_equal(subid_ranges_read(f, &r, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].owner, "alice");
    assert_int_equal(r[0].start, 100000);
    assert_int_equal(r[0].count, 65536);
    assert_string_equal(r[1].owner, "bob");
    assert_int_equal(r[1].count, 1000);
    assert_string_equal(r[2].owner, "1001");

    /* An absent file holds no ranges; a directory cannot be read. */
    _cleanup_free_ char *none = xasprintf("%s/absent", tmpdir);
    _cleanup_free_ struct idmap_subid *r2 = NULL;
    assert_int_equal(subid_ranges_read(none, &r2, &n), 0);
    assert_int_equal(n, 0);
}

static void test_overlap_and_free_start(void **state)
{
    (void)state;
    assert_true(subid_overlap(10, 5, 14, 1));
    assert_false(subid_overlap(10, 5, 15, 1));
    assert_false(subid_overlap(10, 5, 9, 1));
    assert_true(subid_overlap(10, 5, 0, 11));
    assert_false(subid_overlap(10, 0, 10, 1));

    assert_int_equal(subid_free_start(NULL, 0, SUBID_MIN, IDMAP_COUNT), 100000);
    struct idmap_subid r[] = {
        {"a", 100000, 65536},
        {"c", 231072, 10}, /* the second candidate is taken too */
        {"b", 165536, 65536},
        {"far", 400000, 65536},
    };
    /* 100000 taken by a, 165536 by b, 231072 by c: the first free is 231082. */
    assert_int_equal(subid_free_start(r, ARRAY_SIZE(r), SUBID_MIN, IDMAP_COUNT), 231082);
    /* A gap big enough is used. */
    assert_int_equal(subid_free_start(r, 1, 0, 1000), 0);
    assert_int_equal(subid_free_start(r, ARRAY_SIZE(r), 300000, 100000), 300000);
    assert_int_equal(subid_free_start(r, ARRAY_SIZE(r), 300000, 100001), 465536);
}

static void test_user_eval(void **state)
{
    (void)state;
    _cleanup_free_ char *su = fixture("subuid", "small:100000:1000\n"
                                                "small:200000:65535\n"
                                                "alice:300000:65536\n"
                                                "alice:500000:131072\n"
                                                "4242:700000:65536\n"
                                                "onlyuid:800000:65536\n");
    _cleanup_free_ char *sg = fixture("subgid", "alice:300000:65536\n"
                                                "4242:700000:70000\n"
                                                "small:100000:1000\n");
    struct subid_file_eval u, g;
    /* The first range that is large enough, by name. */
    subid_user_eval(su, sg, "alice", 1000, &u, &g);
    assert_true(u.ok && g.ok);
    assert_int_equal(u.start, 300000);
    assert_int_equal(g.start, 300000);
    /* By uid, as newuidmap also accepts. */
    subid_user_eval(su, sg, "nobody-by-name", 4242, &u, &g);
    assert_true(u.ok && g.ok);
    assert_int_equal(u.start, 700000);
    /* Ranges, but none of 65536 ids. */
    subid_user_eval(su, sg, "small", 1001, &u, &g);
    assert_false(u.ok);
    assert_true(u.any);
    assert_false(g.ok);
    assert_true(g.any);
    /* In one file only. */
    subid_user_eval(su, sg, "onlyuid", 1002, &u, &g);
    assert_true(u.ok);
    assert_false(g.ok);
    assert_false(g.any);
    /* Nowhere, and files that do not exist. */
    subid_user_eval(su, sg, "carol", 1003, &u, &g);
    assert_false(u.ok || u.any || g.ok || g.any);
    _cleanup_free_ char *none = xasprintf("%s/absent", tmpdir);
    subid_user_eval(none, none, "alice", 1000, &u, &g);
    assert_false(u.ok || u.any);
    assert_int_equal(u.error, 0);
}

static void test_ready_users(void **state)
{
    (void)state;
    /* Users every Debian system has: root (uid 0), daemon, bin, sys. */
    _cleanup_free_ char *su = fixture("subuid-ready", "daemon:300000:65536\n"
                                                      "daemon:500000:65536\n"
                                                      "bin:400000:65536\n"
                                                      "sys:100000:1000\n"
                                                      "0:600000:65536\n"
                                                      "ghost-of-no-user:700000:65536\n");
    _cleanup_free_ char *sg = fixture("subgid-ready", "daemon:300000:65536\n"
                                                      "sys:100000:65536\n"
                                                      "root:600000:65536\n"
                                                      "ghost-of-no-user:700000:65536\n");
    char buf[128];
    /* daemon once; bin lacks a subgid range; sys's subuid range is too
     * small; uid 0 is root, whose subgid range is by name; the ghost is no
     * user. */
    assert_int_equal(subid_ready_users(su, sg, buf, sizeof(buf)), 2);
    assert_string_equal(buf, "daemon, 0");
    _cleanup_free_ char *empty = fixture("subuid-empty", "");
    assert_int_equal(subid_ready_users(empty, sg, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
}

static void test_pool_overlaps(void **state)
{
    (void)state;
    _cleanup_free_ char *su = fixture("subuid-pool", "alice:100000:65536\nsquatter:1879048192:65536\n");
    _cleanup_free_ char *sg = fixture("subgid-pool", "alice:100000:65536\n");
    _cleanup_free_ char *pw = fixture("passwd", "root:x:0:0:root:/root:/bin/bash\n"
                                                "bob:x:1879113800:100::/home/bob:/bin/sh\n");
    _cleanup_free_ char *gr = fixture("group", "root:x:0:\npoolgrp:x:1879050000:\n");
    char out[4][SUBID_OVERLAP_TEXT];
    unsigned long next = 0;
    size_t n = subid_pool_overlaps(IDMAP_ROOT_POOL_BASE, IDMAP_COUNT, su, sg, pw, gr, out, 4, &next);
    assert_int_equal(n, 2);
    assert_string_equal(out[0], "subuid range of squatter 1879048192-1879113727");
    assert_string_equal(out[1], "gid 1879050000 (poolgrp)");
    assert_int_equal(next, 1879113728);
    /* The next base runs into bob's uid. */
    n = subid_pool_overlaps(next, IDMAP_COUNT, su, sg, pw, gr, out, 4, &next);
    assert_int_equal(n, 1);
    assert_string_equal(out[0], "uid 1879113800 (bob)");
    assert_int_equal(next, 1879113801);
    assert_int_equal(subid_pool_overlaps(next, IDMAP_COUNT, su, sg, pw, gr, out, 4, &next), 0);
    /* Counted beyond max, described up to it. */
    assert_int_equal(subid_pool_overlaps(0, 2000000000, su, sg, pw, gr, out, 1, &next), 7);
    assert_string_equal(out[0], "subuid range of alice 100000-165535");
}

/* A security.capability value: revision 2 or 3, permitted caps, flags. */
static size_t capdata(unsigned char *buf, uint32_t rev, bool effective, uint64_t permitted, uint32_t rootid)
{
    memset(buf, 0, XATTR_CAPS_SZ_3);
    uint32_t words[5] = {rev | (effective ? VFS_CAP_FLAGS_EFFECTIVE : 0), (uint32_t)permitted, 0,
                         (uint32_t)(permitted >> 32), 0};
    for (int w = 0; w < 5; w++)
        for (int b = 0; b < 4; b++)
            buf[w * 4 + b] = (unsigned char)(words[w] >> (8 * b));
    if (rev == VFS_CAP_REVISION_3)
        for (int b = 0; b < 4; b++)
            buf[20 + b] = (unsigned char)(rootid >> (8 * b));
    return rev == VFS_CAP_REVISION_3 ? XATTR_CAPS_SZ_3 : XATTR_CAPS_SZ_2;
}

static void test_filecap(void **state)
{
    (void)state;
    unsigned char v[XATTR_CAPS_SZ_3];
    size_t len = capdata(v, VFS_CAP_REVISION_2, true, 1ull << CAP_SETUID, 0);
    assert_true(filecap_grants(v, len, CAP_SETUID));
    assert_false(filecap_grants(v, len, CAP_SETGID));
    len = capdata(v, VFS_CAP_REVISION_2, false, 1ull << CAP_SETUID, 0);
    assert_false(filecap_grants(v, len, CAP_SETUID)); /* permitted but not effective */
    len = capdata(v, VFS_CAP_REVISION_3, true, 1ull << CAP_SETGID | 1ull << CAP_SETUID, 0);
    assert_true(filecap_grants(v, len, CAP_SETGID));
    len = capdata(v, VFS_CAP_REVISION_3, true, 1ull << CAP_SETGID, 100000);
    assert_false(filecap_grants(v, len, CAP_SETGID)); /* a namespace's root, not the host's */
    len = capdata(v, VFS_CAP_REVISION_2, true, 1ull << 40, 0);
    assert_true(filecap_grants(v, len, 40)); /* the second word */
    assert_false(filecap_grants(v, len - 1, 40));
    assert_false(filecap_grants(v, 3, CAP_SETUID));
    len = capdata(v, 0x05000000, true, 1ull << CAP_SETUID, 0);
    assert_false(filecap_grants(v, len, CAP_SETUID)); /* unknown revision */
}

static void test_map_helper(void **state)
{
    (void)state;
    struct map_helper h;
    _cleanup_free_ char *absent = xasprintf("%s/newuidmap-absent", tmpdir);
    map_helper_probe(absent, CAP_SETUID, &h);
    assert_string_equal(h.path, "");
    assert_false(map_helper_ok(&h));
    _cleanup_free_ char *tool = fixture("newuidmap", "#!/bin/sh\n");
    assert_int_equal(chmod(tool, 0755), 0);
    map_helper_probe(tool, CAP_SETUID, &h);
    assert_string_equal(h.path, tool);
    assert_false(h.setuid_root || h.filecap);
    assert_false(map_helper_ok(&h));
    if (geteuid() == 0) { /* only root makes a file setuid root */
        assert_int_equal(chmod(tool, 04755), 0);
        map_helper_probe(tool, CAP_SETUID, &h);
        assert_true(h.setuid_root);
        assert_true(map_helper_ok(&h));
    }
}

static void test_kvm_access(void **state)
{
    (void)state;
    assert_int_equal(kvm_access_decide(false, false, true, true), KVM_ACCESS_NO_DEVICE);
    assert_int_equal(kvm_access_decide(true, true, false, false), KVM_ACCESS_OK); /* e.g. mode 0666 */
    assert_int_equal(kvm_access_decide(true, false, true, false), KVM_ACCESS_RELOGIN);
    assert_int_equal(kvm_access_decide(true, false, false, false), KVM_ACCESS_NO_GROUP);
    assert_int_equal(kvm_access_decide(true, false, true, true), KVM_ACCESS_NO_GROUP); /* mode without group rw */
    assert_true(group_has_user(4242, "anyone", 4242));                                 /* the primary group */
}

/* A hybrid host like the build machines: memory, pids, cpu on v1. */
static void hybrid(struct cgroup_probe *p, bool writable)
{
    static const char *const names[CGROUP_CTL_COUNT] = {"memory", "pids", "cpu"};
    memset(p, 0, sizeof(*p));
    p->layout = CGROUP_HYBRID;
    snprintf(p->v2_mount, sizeof(p->v2_mount), "/sys/fs/cgroup/unified");
    for (int i = 0; i < CGROUP_CTL_COUNT; i++)
        p->ctl[i] = (struct cgroup_controller){.name = names[i], .version = 1, .writable = writable};
}

static void test_limits_decide(void **state)
{
    (void)state;
    struct cgroup_probe p;
    enum limit_by by[CGROUP_CTL_COUNT];
    hybrid(&p, true);
    sandbox_limits_decide(true, &p, NULL, by);
    for (int i = 0; i < CGROUP_CTL_COUNT; i++) {
        assert_int_equal(by[i], LIMIT_CGROUP_V1);
        assert_true(limit_by_enforced(by[i]));
    }
    p.ctl[CGROUP_CTL_CPU].writable = false;
    p.ctl[CGROUP_CTL_MEMORY].version = 2;
    sandbox_limits_decide(true, &p, NULL, by);
    assert_int_equal(by[CGROUP_CTL_CPU], LIMIT_NONE);
    assert_int_equal(by[CGROUP_CTL_MEMORY], LIMIT_CGROUP_V2);

    /* A user without a delegated cgroup (none found, or no probe): no
     * cgroup, whatever the host offers root; RLIMIT_NPROC stands in for
     * pids. */
    hybrid(&p, true);
    struct cgroups_user u = {.ctl = CGROUPS_ALL}; /* controllers, but no base */
    for (int k = 0; k < 2; k++) {
        sandbox_limits_decide(false, &p, k ? &u : NULL, by);
        assert_int_equal(by[CGROUP_CTL_MEMORY], LIMIT_NONE);
        assert_int_equal(by[CGROUP_CTL_CPU], LIMIT_NONE);
        assert_int_equal(by[CGROUP_CTL_PIDS], LIMIT_RLIMIT_NPROC);
    }
    assert_string_equal(limit_by_name(by[CGROUP_CTL_PIDS]), "rlimit_nproc");
    assert_false(limit_by_enforced(LIMIT_RLIMIT_NPROC)); /* per uid, not per sandbox */
    assert_false(limit_by_enforced(LIMIT_NONE));
    /* A delegated subtree offering memory and pids: those two by cgroup
     * v2, cpu not enforced. */
    snprintf(u.base, sizeof(u.base), "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service");
    u.ctl = CGROUPS_MEMORY | CGROUPS_PIDS;
    sandbox_limits_decide(false, &p, &u, by);
    assert_int_equal(by[CGROUP_CTL_MEMORY], LIMIT_CGROUP_V2);
    assert_int_equal(by[CGROUP_CTL_PIDS], LIMIT_CGROUP_V2);
    assert_int_equal(by[CGROUP_CTL_CPU], LIMIT_NONE);
    u.ctl = CGROUPS_ALL;
    sandbox_limits_decide(false, &p, &u, by);
    for (int i = 0; i < CGROUP_CTL_COUNT; i++)
        assert_true(limit_by_enforced(by[i]));
}

static void test_summaries(void **state)
{
    (void)state;
    struct doctor d = {
        .userns_unpriv_ok = true, .subids_ok = true, .uidmap_ok = true, .overlay_userns_ok = true, .usernet_ok = true};
    json_auto_t *r = doctor_rootless_summary(&d);
    assert_true(json_get_bool(r, "ready", false));
    assert_int_equal(json_array_size(json_object_get(r, "missing")), 0);
    assert_string_equal(json_get_str(r, "summary", ""), "ready");
    d.subids_ok = false;
    d.usernet_ok = false;
    json_auto_t *nr = doctor_rootless_summary(&d);
    assert_false(json_get_bool(nr, "ready", true));
    assert_string_equal(json_get_str(nr, "summary", ""), "not ready (missing: subordinate_ids, user_network)");
    json_t *m = json_object_get(nr, "missing");
    assert_int_equal(json_array_size(m), 2);
    assert_string_equal(json_string_value(json_array_get(m, 0)), "subordinate_ids");

    /* The limits as the current user sees them, on a hybrid host with
     * nothing delegated. */
    d.root = geteuid() == 0;
    hybrid(&d.cgroup, d.root);
    json_auto_t *l = doctor_sandbox_limits(&d);
    assert_int_equal(json_get_int(l, "uid", -1), geteuid());
    if (d.root) {
        assert_string_equal(json_get_str(l, "summary", ""), "memory cgroup v1, pids cgroup v1, cpu cgroup v1");
    } else {
        assert_string_equal(json_get_str(l, "summary", ""),
                            "memory not enforced, pids not enforced (RLIMIT_NPROC stands in), cpu not enforced");
        assert_false(json_get_bool(json_object_get(l, "memory"), "enforced", true));
        assert_false(json_get_bool(json_object_get(l, "pids"), "enforced", true));
        assert_string_equal(json_get_str(json_object_get(l, "pids"), "by", ""), "rlimit_nproc");
    }
}

/* The real probe: it works here or names the step that failed, and leaves
 * nothing behind (overlayfs's work dir is mode 0 afterwards). */
static void test_overlay_userns_probe(void **state)
{
    (void)state;
    const char *step = NULL;
    int e = host_probe_overlay_userns(tmpdir, -1, -1, &step);
    if (e)
        print_message("overlay in a user namespace: %s: %s\n", step, strerror(e));
    assert_true(e == 0 || (step && step[0]));
    if (geteuid() == 0) { /* the scratch dir is handed to nobody, who must reach it */
        assert_int_equal(chmod(tmpdir, 0755), 0);
        e = host_probe_overlay_userns(tmpdir, HOST_PROBE_NOBODY, HOST_PROBE_NOBODY, &step);
        if (e)
            print_message("as nobody: %s: %s\n", step, strerror(e));
        assert_true(e == 0 || (step && step[0]));
        assert_int_equal(chmod(tmpdir, 0700), 0);
    }
    _cleanup_closedir_ DIR *dir = opendir(tmpdir);
    assert_non_null(dir);
    struct dirent *de;
    while ((de = readdir(dir)))
        if (!strncmp(de->d_name, ".doctor-overlay", 15))
            fail_msg("the probe left %s behind", de->d_name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges_read),
        cmocka_unit_test(test_overlap_and_free_start),
        cmocka_unit_test(test_user_eval),
        cmocka_unit_test(test_ready_users),
        cmocka_unit_test(test_pool_overlaps),
        cmocka_unit_test(test_filecap),
        cmocka_unit_test(test_map_helper),
        cmocka_unit_test(test_kvm_access),
        cmocka_unit_test(test_limits_decide),
        cmocka_unit_test(test_summaries),
        cmocka_unit_test(test_overlay_userns_probe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
