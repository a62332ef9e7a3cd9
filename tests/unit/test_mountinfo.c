/* The one mountinfo parser (base/mountinfo.h): fields, the kernel's octal
 * escapes, malformed lines, bounds, and the cgroup mounts the sandbox
 * backend and doctor both read from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/mountinfo.h"
#include "base/paths.h"

static char tmpdir[256];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pyro-test-mountinfo.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    return rm_rf(tmpdir, NULL);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_parse_line(void **state)
{
    char line[] = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n";
    struct mountinfo_entry e;
    assert_int_equal(mountinfo_parse_line(line, &e), 0);
    assert_int_equal(e.id, 36);
    assert_int_equal(e.parent, 35);
    assert_int_equal(e.major, 98);
    assert_int_equal(e.minor, 0);
    assert_string_equal(e.root, "/mnt1");
    assert_string_equal(e.mount_point, "/mnt2");
    assert_string_equal(e.mount_opts, "rw,noatime");
    assert_string_equal(e.fstype, "ext3");
    assert_string_equal(e.source, "/dev/root");
    assert_string_equal(e.super_opts, "rw,errors=continue");

    /* No optional fields. */
    char plain[] = "1 0 0:1 / / rw - rootfs rootfs rw";
    assert_int_equal(mountinfo_parse_line(plain, &e), 0);
    assert_string_equal(e.mount_point, "/");
    assert_string_equal(e.super_opts, "rw");
}

static void test_escapes(void **state)
{
    /* Space, tab, newline and backslash come as \040, \011, \012, \134. */
    char line[] = "40 1 0:33 /a\\040b /mnt/with\\040space\\011tab\\012nl\\134bs rw - tmpfs my\\040src rw\n";
    struct mountinfo_entry e;
    assert_int_equal(mountinfo_parse_line(line, &e), 0);
    assert_string_equal(e.root, "/a b");
    assert_string_equal(e.mount_point, "/mnt/with space\ttab\nnl\\bs");
    assert_string_equal(e.source, "my src");
    /* Not an escape: left as it is. */
    char odd[] = "40 1 0:33 / /x\\9y\\04 rw - tmpfs none rw";
    assert_int_equal(mountinfo_parse_line(odd, &e), 0);
    assert_string_equal(e.mount_point, "/x\\9y\\04");
    /* An escaped NUL would cut the field: the line is refused. */
    char nul[] = "40 1 0:33 / /x\\000y rw - tmpfs none rw";
    assert_int_equal(mountinfo_parse_line(nul, &e), -PYRO_E_INVALID);
}

static void test_malformed(void **state)
{
    const char *bad[] = {
        "",
        "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw", /* no separator */
        "36 35 98:0 /mnt1 /mnt2 rw - ext3 /dev/root",                   /* no super options */
        "x 35 98:0 / /m rw - ext3 /dev/root rw",                        /* id */
        "36 35 98 / /m rw - ext3 /dev/root rw",                         /* major:minor */
        "36 35 98:0 relative /m rw - ext3 /dev/root rw",                /* root */
        "36 35 98:0 / relative rw - ext3 /dev/root rw",                 /* mount point */
        "36 35 98:0 /  rw - ext3 /dev/root rw",                         /* empty mount point */
        "99999999999 35 98:0 / /m rw - ext3 /dev/root rw",              /* id out of range */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *l = xstrdup(bad[i]);
        struct mountinfo_entry e;
        if (mountinfo_parse_line(l, &e) != -PYRO_E_INVALID)
            fail_msg("accepted: '%s'", bad[i]);
        free(l);
    }
}

struct seen {
    int n;
    char last[256];
    int stop_at, fail_at;
};

static int count_entry(const struct mountinfo_entry *e, void *ctx)
{
    struct seen *s = ctx;
    snprintf(s->last, sizeof(s->last), "%s", e->mount_point);
    s->n++;
    if (s->fail_at && s->n == s->fail_at)
        return -42;
    return s->stop_at && s->n == s->stop_at ? 1 : 0;
}

static void test_each(void **state)
{
    _cleanup_free_ char *path = xasprintf("%s/mountinfo", tmpdir);
    write_text(path, "1 0 0:1 / / rw - rootfs rootfs rw\n"
                     "garbage\n"
                     "2 1 0:2 / /proc rw - proc proc rw\n"
                     "3 1 0:3 / /a\\040b rw - tmpfs t rw\n");
    struct seen s = {0};
    assert_int_equal(mountinfo_each(path, count_entry, &s, NULL), 0);
    assert_int_equal(s.n, 3); /* the malformed line is skipped */
    assert_string_equal(s.last, "/a b");
    s = (struct seen){.stop_at = 2};
    assert_int_equal(mountinfo_each(path, count_entry, &s, NULL), 0);
    assert_string_equal(s.last, "/proc");
    s = (struct seen){.fail_at = 1};
    assert_int_equal(mountinfo_each(path, count_entry, &s, NULL), -42);
    pyro_error err = {0};
    _cleanup_free_ char *missing = xasprintf("%s/none", tmpdir);
    assert_int_equal(mountinfo_each(missing, count_entry, &s, &err), -ENOENT);

    /* Bounds: the line count and a line's length. */
    FILE *f = fopen(path, "w");
    for (int i = 0; i <= MOUNTINFO_MAX_LINES; i++)
        fprintf(f, "%d 1 0:3 / /m%d rw - tmpfs t rw\n", i + 2, i);
    fclose(f);
    s = (struct seen){0};
    assert_int_equal(mountinfo_each(path, count_entry, &s, &err), -PYRO_E_LIMIT);
    assert_int_equal(s.n, MOUNTINFO_MAX_LINES);
    f = fopen(path, "w");
    fputs("2 1 0:3 / /", f);
    for (int i = 0; i < MOUNTINFO_LINE_MAX; i++)
        fputc('x', f);
    fputs(" rw - tmpfs t rw\n", f);
    fclose(f);
    assert_int_equal(mountinfo_each(path, count_entry, &s, &err), -PYRO_E_LIMIT);
    assert_non_null(strstr(err.message, "longer"));
}

static void test_opt_has(void **state)
{
    assert_true(mountinfo_opt_has("rw,cpu,cpuacct", "cpu"));
    assert_true(mountinfo_opt_has("rw,cpu,cpuacct", "cpuacct"));
    assert_true(mountinfo_opt_has("memory", "memory"));
    assert_false(mountinfo_opt_has("rw,cpuset", "cpu"));
    assert_false(mountinfo_opt_has("rw,name=systemd", "systemd"));
    assert_false(mountinfo_opt_has("", "cpu"));
}

/* A hybrid host whose hierarchies sit at escaped mount points: both the
 * backend and doctor get the unescaped paths. */
static void test_cgroups(void **state)
{
    _cleanup_free_ char *v2 = xasprintf("%s/cg two", tmpdir);
    assert_int_equal(mkdir(v2, 0755), 0);
    _cleanup_free_ char *ctl = xasprintf("%s/cgroup.controllers", v2);
    write_text(ctl, "cpuset cpu io memory pids\n");
    _cleanup_free_ char *path = xasprintf("%s/mountinfo", tmpdir);
    _cleanup_free_ char *text =
        xasprintf("1 0 0:1 / / rw - ext4 /dev/sda1 rw\n"
                  "31 1 0:27 / %s/cg\\040two rw shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
                  "30 1 0:26 / /nonexistent-pyro/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw\n"
                  "32 1 0:28 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd\n"
                  "33 1 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:12 - cgroup cgroup rw,cpu,cpuacct\n"
                  "34 1 0:30 / /sys/fs/cgroup/my\\040memory rw shared:13 - cgroup cgroup rw,memory\n"
                  "35 1 0:31 / /sys/fs/cgroup/pids rw shared:14 - cgroup cgroup rw,pids\n",
                  tmpdir);
    write_text(path, text);
    struct mountinfo_cgroups m;
    pyro_error err = {0};
    assert_int_equal(mountinfo_cgroups(path, &m, &err), 0);
    /* The first cgroup2 mount (/sys/fs/cgroup is not among them), its
     * controllers read from the unescaped path. */
    assert_string_equal(m.v2, v2);
    assert_string_equal(m.v2_controllers, "cpuset cpu io memory pids");
    assert_true(mountinfo_cgroup_v2_has(&m, "cpu"));
    assert_true(mountinfo_cgroup_v2_has(&m, "pids"));
    assert_false(mountinfo_cgroup_v2_has(&m, "cpuacct"));
    assert_false(mountinfo_cgroup_v2_has(&m, "hugetlb"));
    assert_int_equal(m.v1_count, 4);
    assert_string_equal(mountinfo_cgroup_v1(&m, "cpu"), "/sys/fs/cgroup/cpu,cpuacct");
    assert_string_equal(mountinfo_cgroup_v1(&m, "cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");
    assert_string_equal(mountinfo_cgroup_v1(&m, "memory"), "/sys/fs/cgroup/my memory");
    assert_string_equal(mountinfo_cgroup_v1(&m, "pids"), "/sys/fs/cgroup/pids");
    assert_null(mountinfo_cgroup_v1(&m, "devices"));
    assert_null(mountinfo_cgroup_v1(&m, "systemd"));
    mountinfo_cgroups_free(&m);

    /* A cgroup2 mount whose cgroup.controllers cannot be read. */
    write_text(path, "30 1 0:26 / /nonexistent-pyro/unified rw - cgroup2 cgroup2 rw\n");
    assert_int_equal(mountinfo_cgroups(path, &m, &err), 0);
    assert_string_equal(m.v2, "/nonexistent-pyro/unified");
    assert_null(m.v2_controllers);
    assert_false(mountinfo_cgroup_v2_has(&m, "cpu"));
    assert_int_equal(m.v1_count, 0);
    mountinfo_cgroups_free(&m);

    /* /sys/fs/cgroup wins wherever it comes. */
    _cleanup_free_ char *text3 = xasprintf("31 1 0:27 / %s/cg\\040two rw - cgroup2 cgroup2 rw\n"
                                           "32 1 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
                                           "33 1 0:27 / /elsewhere rw - cgroup2 cgroup2 rw\n",
                                           tmpdir);
    write_text(path, text3);
    assert_int_equal(mountinfo_cgroups(path, &m, &err), 0);
    assert_string_equal(m.v2, "/sys/fs/cgroup");
    mountinfo_cgroups_free(&m);

    /* More v1 hierarchies than the bound: an error, not a silent cut. */
    FILE *f = fopen(path, "w");
    for (int i = 0; i <= MOUNTINFO_CGROUP_V1_MAX; i++)
        fprintf(f, "%d 1 0:3 / /cg%d rw - cgroup cgroup rw,name=h%d\n", i + 2, i, i);
    fclose(f);
    assert_int_equal(mountinfo_cgroups(path, &m, &err), -PYRO_E_LIMIT);
    assert_non_null(strstr(err.message, "hierarchies"));
    assert_null(m.v2);
    assert_int_equal(m.v1_count, 0);
}

/* In a private mount namespace (a child), tmpfs mounts below a directory
 * whose name needs escaping are all detached, the nested one first; a
 * listed mount point that is no mount is not an error. */
static int unmount_child(void)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return 10;
    _cleanup_free_ char *top = xasprintf("%s/with space", tmpdir);
    _cleanup_free_ char *nested = xasprintf("%s/with space/in\tner", tmpdir);
    _cleanup_free_ char *beside = xasprintf("%s/with spacex", tmpdir);
    if (mkdir(top, 0755) < 0 || mkdir(beside, 0755) < 0 || mount("t", top, "tmpfs", 0, NULL) < 0 ||
        mkdir(nested, 0755) < 0 || mount("t", nested, "tmpfs", 0, NULL) < 0 || mount("t", beside, "tmpfs", 0, NULL) < 0)
        return 11;
    pyro_error err = {0};
    if (mountinfo_unmount_below(MOUNTINFO_PATH, top, &err) != 0)
        return 12;
    /* Neither is mounted any more; the sibling with a longer name is. */
    _cleanup_fclose_ FILE *f = fopen(MOUNTINFO_PATH, "re");
    char line[8192];
    bool saw_top = false, saw_beside = false;
    while (f && fgets(line, sizeof(line), f)) {
        struct mountinfo_entry e;
        if (mountinfo_parse_line(line, &e) < 0)
            continue;
        saw_top |= !strncmp(e.mount_point, top, strlen(top)) &&
                   (e.mount_point[strlen(top)] == '\0' || e.mount_point[strlen(top)] == '/');
        saw_beside |= !strcmp(e.mount_point, beside);
    }
    if (saw_top)
        return 13;
    if (!saw_beside)
        return 14;
    return 0;
}

static void test_unmount_below(void **state)
{
    /* A table listing a directory that is no mount point: nothing fails. */
    _cleanup_free_ char *path = xasprintf("%s/mountinfo", tmpdir);
    _cleanup_free_ char *text = xasprintf("40 1 0:33 / %s/no\\040mount rw - tmpfs t rw\n", tmpdir);
    write_text(path, text);
    _cleanup_free_ char *nomount = xasprintf("%s/no mount", tmpdir);
    assert_int_equal(mkdir(nomount, 0755), 0);
    pyro_error err = {0};
    assert_int_equal(mountinfo_unmount_below(path, tmpdir, &err), 0);

    if (geteuid() != 0)
        skip(); /* mounting needs root */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(unmount_child());
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 10)
        skip(); /* no mount namespaces here */
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_line),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test_setup_teardown(test_each, setup, teardown),
        cmocka_unit_test(test_opt_has),
        cmocka_unit_test_setup_teardown(test_cgroups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unmount_below, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
