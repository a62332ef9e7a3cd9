/* Bounded probes: deadlines and output caps hold, and the cgroup and QEMU
 * findings agree with what the host's files and binaries say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/sandbox/internal.h"
#include "lib/host/cgroup_probe.h"
#include "base/cleanup.h"
#include "lib/host/host_probe.h"
#include "base/probe.h"
#include "lib/host/qemu_probe.h"
#include "base/spawn_capture.h"
#include "base/timeutil.h"

static int child_hang(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return 0;
}

static int child_exit_arg(void *arg)
{
    return *(int *)arg;
}

static void test_probe_run(void **state)
{
    (void)state;
    int status = -1, code = 42;
    assert_int_equal(probe_run(child_exit_arg, &code, 2000, &status, NULL), 0);
    assert_int_equal(status, 42);

    pyro_error err = {0};
    int64_t t0 = time_mono_ms();
    assert_int_equal(probe_run(child_hang, NULL, 150, &status, &err), -PYRO_E_TIMEOUT);
    int64_t took = time_mono_ms() - t0;
    assert_true(took >= 150 && took < 1500);
    assert_non_null(strstr(err.message, "150 ms"));
}

static void test_read_helpers(void **state)
{
    (void)state;
    char buf[8];
    assert_int_equal(probe_read_file("/nonexistent/pyro", buf, sizeof(buf)), -ENOENT);
    /* A file longer than the buffer is cut at size - 1 and NUL-terminated. */
    assert_int_equal(probe_read_file("/proc/self/mountinfo", buf, sizeof(buf)), 7);
    assert_int_equal(strlen(buf), 7);
    long v = -1;
    assert_int_equal(probe_read_long("/proc/sys/kernel/pid_max", &v), 0);
    assert_true(v > 0);
    assert_int_equal(probe_read_long("/proc/self/mountinfo", &v), -EINVAL);
    assert_true(probe_file_has_word("/proc/filesystems", "proc"));
    assert_false(probe_file_has_word("/proc/filesystems", "pro"));
}

static void test_capture_bounds(void **state)
{
    (void)state;
    _cleanup_free_ char *sh = NULL;
    assert_int_equal(proc_find_program("sh", &sh, NULL), 0);
    assert_int_equal(sh[0], '/');
    _cleanup_free_ char *missing = NULL;
    assert_int_equal(proc_find_program("pyro-no-such-program", &missing, NULL), -ENOENT);

    char *big[] = {sh, "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo err >&2; exit 3", NULL};
    _cleanup_free_ char *out = NULL;
    bool truncated = false;
    int status = -1;
    assert_int_equal(proc_capture(big, 5000, 1000, &out, &truncated, &status, NULL), 0);
    assert_int_equal(strlen(out), 1000);
    assert_true(truncated);
    assert_int_equal(status, 3);

    char *hang[] = {sh, "-c", "exec sleep 30", NULL};
    _cleanup_free_ char *out2 = NULL;
    pyro_error err = {0};
    int64_t t0 = time_mono_ms();
    assert_int_equal(proc_capture(hang, 200, 1000, &out2, &truncated, &status, &err), -PYRO_E_TIMEOUT);
    assert_true(time_mono_ms() - t0 < 2000);
    assert_null(out2);
}

static void test_qemu_probe(void **state)
{
    (void)state;
    _cleanup_free_ char *path = NULL;
    if (qemu_find(&path, NULL) < 0)
        skip(); /* the host has no qemu-system-x86_64 */
    struct qemu_info q;
    pyro_error err = {0};
    if (qemu_probe(&q, &err) < 0)
        fail_msg("qemu_probe: %s", err.message);
    assert_string_equal(q.path, path);
    assert_non_null(strstr(q.version_line, "QEMU emulator version"));
    assert_true(q.version[0] >= '1' && q.version[0] <= '9');
    assert_true(q.accel_tcg); /* every qemu-system build has TCG */
    qemu_info_clear(&q);
}

/* True when /proc/self/cgroup puts this process in a v1 hierarchy that
 * carries controller name (lines "id:ctl,ctl:/path"). */
static bool self_cgroup_v1_has(const char *name)
{
    char buf[4096];
    if (probe_read_file("/proc/self/cgroup", buf, sizeof(buf)) < 0)
        return false;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *ctls = strchr(line, ':');
        char *end = ctls ? strchr(ctls + 1, ':') : NULL;
        if (!end)
            continue;
        *end = '\0';
        char *s2 = NULL;
        for (char *c = strtok_r(ctls + 1, ",", &s2); c; c = strtok_r(NULL, ",", &s2))
            if (!strcmp(c, name))
                return true;
    }
    return false;
}

/* Each controller's hierarchy must agree with the kernel's own account. */
static void test_cgroup_probe(void **state)
{
    (void)state;
    struct cgroup_probe p;
    cgroup_probe_run(&p);
    int found = 0;
    for (int i = 0; i < CGROUP_CTL_COUNT; i++) {
        const struct cgroup_controller *c = &p.ctl[i];
        if (c->version == 0) {
            assert_false(self_cgroup_v1_has(c->name));
            continue;
        }
        found++;
        struct stat st;
        assert_int_equal(stat(c->mount, &st), 0);
        if (c->version == 1) {
            assert_true(p.layout == CGROUP_V1 || p.layout == CGROUP_HYBRID);
            assert_true(self_cgroup_v1_has(c->name));
        } else {
            assert_string_equal(c->mount, p.v2_mount);
            _cleanup_free_ char *f = xasprintf("%s/cgroup.controllers", c->mount);
            assert_true(probe_file_has_word(f, c->name));
        }
    }
    if (p.layout == CGROUP_HYBRID || p.layout == CGROUP_V2)
        assert_true(p.v2_mount[0] == '/');
    if (found == 0 && p.layout == CGROUP_NONE)
        skip();
}

/* Doctor reports the hierarchies the backend puts its cgroups in: both
 * read them through base/mountinfo.h. */
static void test_cgroup_agreement(void **state)
{
    (void)state;
    struct cgroup_probe p;
    cgroup_probe_run(&p);
    struct sandbox_cgroups cg;
    pyro_error err = {0};
    if (sandbox_cgroup_plan("pyro", "agree", &cg, &err) < 0) {
        /* No usable hierarchy: doctor must not claim one for all three. */
        int v1 = 0, v2 = 0;
        for (int i = 0; i < CGROUP_CTL_COUNT; i++) {
            v1 += p.ctl[i].version == 1;
            v2 += p.ctl[i].version == 2;
        }
        assert_true(v1 < CGROUP_CTL_COUNT && v2 < CGROUP_CTL_COUNT);
        return;
    }
    for (int i = 0; i < CGROUP_CTL_COUNT; i++) {
        const struct cgroup_controller *c = &p.ctl[i];
        assert_int_equal(c->version, cg.version);
        _cleanup_free_ char *want = xasprintf("%s/pyro/agree", c->mount);
        bool hit = false;
        for (int k = 0; k < cg.count; k++)
            hit |= !strcmp(cg.paths[k], want);
        if (!hit)
            fail_msg("%s: doctor says %s, the backend uses other paths", c->name, want);
    }
    sandbox_cgroup_free(&cg);
}

static void test_host_probes_as_root(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* what root may do is the claim under test */
    assert_int_equal(host_probe_namespaces(), 0);
    char actions[256];
    assert_int_equal(host_probe_seccomp(actions, sizeof(actions)), 0);
    assert_non_null(strstr(actions, "allow"));
    char tmpl[] = "/tmp/pyro-test-probe.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    if (host_overlay_listed())
        assert_int_equal(host_probe_overlay_mount(tmpl), 0);
    assert_int_equal(rmdir(tmpl), 0); /* the scratch directories are gone */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_run),       cmocka_unit_test(test_read_helpers),
        cmocka_unit_test(test_capture_bounds),  cmocka_unit_test(test_qemu_probe),
        cmocka_unit_test(test_cgroup_probe),    cmocka_unit_test(test_host_probes_as_root),
        cmocka_unit_test(test_cgroup_agreement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
