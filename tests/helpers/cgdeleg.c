/* pyro-cgdeleg: drives the backend's cgroup code (backend/cgroups.c,
 * cgroups_user.c) as an ordinary user on a real cgroup2 hierarchy, for
 * tests/integration/test_cgroup_delegation.sh, which runs it inside a VM
 * guest (this build host is cgroup v1 hybrid). Static, so it runs in any
 * guest root.
 *
 *   pyro-cgdeleg deleg BASE    this process lives in BASE, a cgroup delegated
 *                              to its uid: make a sandbox cgroup with limits,
 *                              attach a process, watch the pids limit refuse
 *                              a fork, remove it (members alive) from its
 *                              recorded path
 *   pyro-cgdeleg nodeleg       this process's cgroup is not delegated: no
 *                              plan, every limit reported as unenforced
 *
 * Prints one "ok ..." line per check; exits 1 with "FAIL ..." on the first
 * failure. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgcheck.h"

#include "backend/cgroups.h"
#include "base/cleanup.h"
#include "base/probe.h"

#define ID "cgtest1"
#define PIDS_MAX 8

/* The cgroup2 path of pid ("/..."). */
static const char *cgroup_of(pid_t pid)
{
    static char path[CGROUPS_PATH_MAX];
    char f[64], text[4096];
    snprintf(f, sizeof(f), "/proc/%d/cgroup", (int)pid);
    if (probe_read_file(f, text, sizeof(text)) < 0 || cgroups_self_path(text, path, sizeof(path)) < 0)
        return "(none)";
    return path;
}

/* In the sandbox cgroup: fork children that wait on the pipe until fork
 * fails (EAGAIN: the pids limit), then wait too, until the removal kills
 * them all. */
static int fork_until_refused(int hold_fd)
{
    int made = 0;
    for (; made < 100; made++) {
        pid_t p = fork();
        if (p == 0) {
            char c;
            _exit(read(hold_fd, &c, 1) < 0);
        }
        if (p < 0) {
            if (errno != EAGAIN)
                return 200;
            break;
        }
    }
    /* Stay (with the children) until killed by the removal. */
    char c;
    return read(hold_fd, &c, 1) < 0 ? 202 : made;
}

static int deleg(const char *base)
{
    if (geteuid() == 0)
        cg_fail("runs as root: the test is of an ordinary user");
    printf("ok running as uid %u\n", (unsigned)geteuid());
    struct cgroups_user u;
    struct cgroups cg;
    if (cgroups_plan_caller(true, "pyro", ID, &cg, &u, NULL) < 0)
        cg_fail("cgroups_plan_caller");
    if (strcmp(u.base, base))
        cg_fail("delegated base '%s', not %s (why: %s)", u.base, base, u.why);
    if (u.ctl != CGROUPS_ALL || u.why[0])
        cg_fail("controllers %#x, why '%s'", u.ctl, u.why);
    printf("ok delegated base %s with memory, pids, cpu\n", u.base);
    char want[CGROUPS_PATH_MAX + 32];
    snprintf(want, sizeof(want), "%s/pyro/%s", base, ID);
    if (cg.count != 1 || cg.version != 2 || strcmp(cg.paths[0], want))
        cg_fail("plan %d paths, v%d, '%s'", cg.count, cg.version, cg.count ? cg.paths[0] : "");
    struct cgroups_limits lim = {.vcpu_count = 1, .mem_mib = 64, .pids_max = PIDS_MAX};
    cgroups_create_user(&cg, &lim, &u);
    if (cg.count != 1 || cgroups_unenforced(&cg) != 0)
        cg_fail("cgroup not made: %s (fix: %s)", u.why, u.fix);
    printf("ok made %s\n", want);
    /* This process sat in the base: it moved to the leaf, so that the
     * base could enable controllers for its children. */
    const char *self = cgroup_of(getpid());
    if (!strstr(self, "/pyro-leaf"))
        cg_fail("this process is in %s, not in the base's leaf", self);
    printf("ok this process moved to the leaf %s\n", self);
    cg_expect_file("", base, "cgroup.subtree_control", "cpu memory pids");
    cg_expect_file("", want, "memory.max", "67108864");
    cg_expect_file("", want, "memory.swap.max", "0");
    cg_expect_file("", want, "pids.max", "8");
    cg_expect_file("", want, "cpu.max", "100000 100000");

    int hold[2];
    if (pipe(hold) < 0)
        cg_fail("pipe");
    int go[2];
    if (pipe(go) < 0)
        cg_fail("pipe");
    pid_t child = fork();
    if (child < 0)
        cg_fail("fork");
    if (child == 0) {
        close(hold[1]);
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(201);
        _exit(fork_until_refused(hold[0]));
    }
    close(hold[0]);
    close(go[0]);
    pyro_error err = {0};
    if (cgroups_attach(&cg, child, &err) < 0)
        cg_fail("attach: %s", err.message);
    const char *in = cgroup_of(child);
    if (!strstr(in, "/pyro/" ID))
        cg_fail("the attached process is in %s", in);
    printf("ok attached pid %d: %s\n", (int)child, in);
    if (write(go[1], "g", 1) != 1)
        cg_fail("write");
    /* Until the kernel refused a fork (pids.events counts it), at most
     * 10 s: by then the cgroup holds exactly the limit. */
    const char *ev = "";
    for (int i = 0; i < 1000; i++) {
        ev = cg_first_line(want, "pids.events");
        if (!strncmp(ev, "max ", 4) && atoi(ev + 4) >= 1)
            break;
        usleep(10000);
    }
    if (strncmp(ev, "max ", 4) || atoi(ev + 4) < 1)
        cg_fail("pids.events '%s': no fork was refused", ev);
    printf("ok a fork was refused (pids.events: %s)\n", ev);
    cg_expect_file("", want, "pids.current", "8");

    /* Removal from the recorded path (as destroy after a killed monitor
     * does), with every member alive: they are killed, the cgroup goes. */
    struct cgroups rec;
    if (cgroups_plan_recorded(want, "pyro", ID, &rec, &err) < 0)
        cg_fail("recorded plan: %s", err.message);
    if (cgroups_remove(&rec, &err) < 0)
        cg_fail("remove: %s", err.message);
    cgroups_free(&rec);
    if (access(want, F_OK) == 0)
        cg_fail("%s remains", want);
    int st;
    if (waitpid(child, &st, 0) != child || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
        cg_fail("the member was not killed by the removal (status %#x)", st);
    printf("ok removed %s, its %d processes killed\n", want, PIDS_MAX);
    cgroups_free(&cg);
    return 0;
}

static int nodeleg(void)
{
    struct cgroups_user u;
    struct cgroups cg;
    if (cgroups_plan_caller(true, "pyro", ID, &cg, &u, NULL) < 0)
        cg_fail("cgroups_plan_caller");
    if (u.base[0] || cg.count != 0 || cgroups_unenforced(&cg) != CGROUPS_ALL)
        cg_fail("a plan without delegation: base '%s', %d paths", u.base, cg.count);
    if (!strstr(u.why, "is not delegated to uid") || !strstr(u.fix, "Delegate=yes"))
        cg_fail("why '%s' fix '%s'", u.why, u.fix);
    printf("ok no plan: %s (fix: %s)\n", u.why, u.fix);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && !strcmp(argv[1], "deleg"))
        return deleg(argv[2]);
    if (argc == 2 && !strcmp(argv[1], "nodeleg"))
        return nodeleg();
    fprintf(stderr, "usage: pyro-cgdeleg deleg BASE | nodeleg\n");
    return 2;
}
