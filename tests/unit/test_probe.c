/* Bounded probes: deadlines and output caps hold, and the cgroup and QEMU
 * findings agree with what the host's files and binaries say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/cgroups.h"
#include "base/cleanup.h"
#include "base/probe.h"
#include "base/spawn_capture.h"
#include "base/timeutil.h"
#include "lib/host/cgroup_probe.h"
#include "lib/host/host_probe.h"
#include "lib/host/qemu_probe.h"

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

/* The one spawn helper: stderr apart, the environment, descriptors and
 * signals the child starts with, the process group killed at the deadline,
 * and proc_run's errors. */
static void test_spawn(void **state)
{
    (void)state;
    _cleanup_free_ char *sh = NULL;
    assert_int_equal(proc_find_program("sh", &sh, NULL), 0);
    struct proc_opts o = {.timeout_ms = 5000, .max_output = 1000};
    struct proc_result res;

    /* stdout and stderr apart; stdin is /dev/null. */
    char *split[] = {sh, "-c", "echo out; echo err >&2; cat; exit 4", NULL};
    assert_int_equal(proc_spawn(split, &o, &res, NULL), 0);
    assert_string_equal(res.out, "out\n");
    assert_string_equal(res.err_text, "err\n");
    assert_int_equal(res.status, 4);
    assert_false(res.truncated);
    proc_result_free(&res);

    /* Added variables replace the caller's of the same name. */
    setenv("PYROSPAWN_A", "old", 1);
    char *env[] = {"PYROSPAWN_A=new", "PYROSPAWN_B=x", NULL};
    struct proc_opts oe = o;
    oe.env = env;
    char *show[] = {sh, "-c", "env | grep ^PYROSPAWN_ | sort", NULL};
    assert_int_equal(proc_spawn(show, &oe, &res, NULL), 0);
    assert_string_equal(res.out, "PYROSPAWN_A=new\nPYROSPAWN_B=x\n");
    proc_result_free(&res);
    unsetenv("PYROSPAWN_A");
    /* A whole environment of the caller's choosing. */
    char *whole[] = {"PYROSPAWN_C=only", "PATH=/usr/bin:/bin", NULL};
    struct proc_opts ow = o;
    ow.envp = whole;
    char *dump[] = {sh, "-c", "env | grep -v '^PWD=\\|^SHLVL=\\|^_=' | sort", NULL};
    assert_int_equal(proc_spawn(dump, &ow, &res, NULL), 0);
    assert_string_equal(res.out, "PATH=/usr/bin:/bin\nPYROSPAWN_C=only\n");
    proc_result_free(&res);

    /* No descriptor leaks in, not even one without O_CLOEXEC; ignored or
     * blocked signals are back to their defaults. */
    int leak = open("/dev/null", O_RDONLY);
    assert_true(leak > 2);
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGTERM, &ign, &old);
    char *fds[] = {sh, "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '; kill -TERM $$", NULL};
    assert_int_equal(proc_spawn(fds, &o, &res, NULL), 0);
    sigaction(SIGTERM, &old, NULL);
    close(leak);
    assert_string_equal(res.out, "0 1 2 3 "); /* 3: ls's own directory */
    assert_int_equal(res.status, 128 + SIGTERM);
    proc_result_free(&res);

    /* At the deadline the whole group goes, grandchildren included, even
     * when the child itself has closed its output. */
    char *group[] = {sh, "-c", "exec >/dev/null 2>&1; sleep 29.7131", NULL};
    struct proc_opts ot = {.timeout_ms = 200, .max_output = 100};
    int64_t t0 = time_mono_ms();
    pyro_error err = {0};
    assert_int_equal(proc_spawn(group, &ot, &res, &err), -PYRO_E_TIMEOUT);
    assert_true(time_mono_ms() - t0 < 2000);
    assert_null(res.out);
    char *bg[] = {sh, "-c", "sleep 29.7132 & echo $!", NULL};
    assert_int_equal(proc_spawn(bg, &ot, &res, &err), -PYRO_E_TIMEOUT); /* the pipe stays open */
    char *after[] = {sh, "-c", "pgrep -f '^sleep 29[.]713[12]$' || true", NULL};
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(proc_spawn(after, &o, &res, NULL), 0);
    assert_string_equal(res.out, "");
    proc_result_free(&res);

    /* proc_run: a failure names the command and quotes stderr's first
     * line; too much output is an error, not a cut. */
    char *fail[] = {sh, "-c", "printf 'fir%s\\n' st >&2; printf 'sec%s\\n' ond >&2; exit 3", NULL};
    assert_int_equal(proc_run(fail, 5000, NULL, &err), -EIO);
    assert_non_null(strstr(err.message, "exit status 3"));
    assert_non_null(strstr(err.message, ": first"));
    assert_null(strstr(err.message, "second"));
    char *flood[] = {sh, "-c", "head -c 2000000 /dev/zero", NULL};
    assert_int_equal(proc_run(flood, 5000, NULL, &err), -PYRO_E_LIMIT);
    _cleanup_free_ char *ok = NULL;
    char *fine[] = {sh, "-c", "echo fine", NULL};
    assert_int_equal(proc_run(fine, 5000, &ok, &err), 0);
    assert_string_equal(ok, "fine\n");
    char *missing[] = {"/nonexistent/pyro-tool", NULL};
    assert_true(proc_run(missing, 5000, NULL, &err) < 0);
}

/* PATH decides; relative entries are never searched, and without a PATH
 * the system directories are. */
static void test_find_program(void **state)
{
    (void)state;
    _cleanup_free_ char *saved = xstrdup(getenv("PATH") ? getenv("PATH") : "");
    char *p = NULL;
    setenv("PATH", "/nonexistent", 1);
    assert_int_equal(proc_find_program("sh", &p, NULL), -ENOENT);
    setenv("PATH", ".:bin", 1);
    int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(chdir("/"), 0);
    assert_int_equal(proc_find_program("sh", &p, NULL), -ENOENT); /* ./bin/sh exists, relative */
    assert_int_equal(fchdir(cwd), 0);
    close(cwd);
    unsetenv("PATH");
    assert_int_equal(proc_find_program("sh", &p, NULL), 0);
    assert_int_equal(p[0], '/');
    free(p);
    setenv("PATH", saved, 1);
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
    struct cgroups cg;
    pyro_error err = {0};
    if (cgroups_plan("pyro", "agree", &cg, &err) < 0) {
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
    cgroups_free(&cg);
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
    const char *step = NULL;
    if (host_overlay_listed())
        assert_int_equal(host_probe_overlay_userns(tmpl, -1, -1, &step), 0);
    assert_int_equal(rmdir(tmpl), 0); /* the scratch directories are gone */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_run),
        cmocka_unit_test(test_read_helpers),
        cmocka_unit_test(test_capture_bounds),
        cmocka_unit_test(test_qemu_probe),
        cmocka_unit_test(test_cgroup_probe),
        cmocka_unit_test(test_host_probes_as_root),
        cmocka_unit_test(test_spawn),
        cmocka_unit_test(test_find_program),
        cmocka_unit_test(test_cgroup_agreement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
