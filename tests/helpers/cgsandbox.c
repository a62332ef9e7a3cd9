/* pyro-cgsandbox: a whole rootless sandbox start (backend/sandbox) in a
 * delegated cgroup v2 subtree, for tests/integration/
 * test_cgroup_delegation.sh, which runs it as an ordinary user inside a VM
 * guest (this build host is cgroup v1 hybrid). Static, so it runs in any
 * guest root.
 *
 *   pyro-cgsandbox ROOTFS DIR PROBE
 *
 * Starts a sandbox (PID 1: the static pyro-probe, "forkbomb" then "sleep")
 * over ROOTFS with its directory DIR from a child process standing in for
 * the monitor, checks that the result holds every limit, that PID 1 is in
 * <base>/pyro/<id> with memory.max, pids.max and cpu.max, and that the
 * probe's fork bomb stopped at pids.max; then kills the "monitor" and
 * destroys the sandbox from the state on disk alone, as after a killed
 * monitor: the cgroup and the directory must be gone. Prints "ok ..." lines;
 * exits 1 with "FAIL ..." on the first failure. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgcheck.h"

#include "backend/cgroups.h"
#include "backend/sandbox/sandbox.h"
#include "base/idmap.h"
#include "base/probe.h"

#define ID "cgsb1"

/* The "monitor": starts the sandbox, reports PID 1 and what the result
 * said on the pipe, forwards the probe's channel, then waits to be
 * killed. */
static void monitor(const char *rootfs, const char *dir, const char *probe, int report, int chan)
{
    static char *argv[] = {(char *)"pyro-probe", (char *)"forkbomb", (char *)"sleep", NULL};
    struct idmap m;
    pyro_error err = {0};
    if (idmap_resolve(&m, &err) < 0)
        dprintf(report, "FAIL idmap: %s\n", err.message), _exit(1);
    struct backend_config cfg = {.id = ID,
                                 .rootfs = rootfs,
                                 .dir = dir,
                                 .init_path = probe,
                                 .init_argv = argv,
                                 .stdio_fd = -1,
                                 .channel_fd = chan,
                                 .vcpu_count = 1,
                                 .mem_mib = 64,
                                 .pids_max = 16,
                                 .idmap = &m};
    struct backend_instance inst;
    if (sandbox_start(&cfg, &inst, &err) < 0)
        dprintf(report, "FAIL start: %s\n", err.message), _exit(1);
    close(chan);
    dprintf(report, "pid=%d version=%d unenforced=%u reason=%s\n", (int)inst.pid, inst.cgroup_version,
            inst.limits_unenforced, inst.limits_reason);
    close(report);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 4) {
        fprintf(stderr, "usage: pyro-cgsandbox ROOTFS DIR PROBE\n");
        return 2;
    }
    if (geteuid() == 0)
        cg_fail("runs as root: the test is of an ordinary user");
    int rep[2], sp[2];
    if (pipe(rep) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        cg_fail("pipe");
    pid_t mon = fork();
    if (mon == 0) {
        close(rep[0]);
        close(sp[0]);
        monitor(argv[1], argv[2], argv[3], rep[1], sp[1]);
    }
    close(rep[1]);
    close(sp[1]);
    char line[2048] = "";
    FILE *f = fdopen(rep[0], "r");
    if (!f || !fgets(line, sizeof(line), f))
        cg_fail("the monitor reported nothing");
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    if (!strncmp(line, "FAIL", 4))
        cg_fail("%s", line + 5);
    int pid = 0, version = 0;
    unsigned unenforced = 99;
    if (sscanf(line, "pid=%d version=%d unenforced=%u", &pid, &version, &unenforced) != 3)
        cg_fail("report '%s'", line);
    if (version != 2 || unenforced != 0)
        cg_fail("the sandbox does not hold its limits: %s", line);
    printf("ok rootless sandbox started: cgroup v2, nothing in limits_unenforced\n");

    /* PID 1's cgroup, as the kernel says. */
    char f1[64], text[4096], self[CGROUPS_PATH_MAX];
    snprintf(f1, sizeof(f1), "/proc/%d/cgroup", pid);
    if (probe_read_file(f1, text, sizeof(text)) < 0 || cgroups_self_path(text, self, sizeof(self)) < 0)
        cg_fail("no cgroup2 path for PID 1");
    if (!strstr(self, "/pyro/" ID))
        cg_fail("PID 1 is in %s", self);
    printf("ok PID 1 is in %s\n", self);
    char dir[CGROUPS_PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", self);
    cg_expect_file("sandbox ", dir, "memory.max", "67108864");
    cg_expect_file("sandbox ", dir, "memory.swap.max", "0");
    cg_expect_file("sandbox ", dir, "pids.max", "16");
    cg_expect_file("sandbox ", dir, "cpu.max", "100000 100000");

    /* The probe's fork bomb: its report on the channel. */
    char out[4096] = "";
    size_t used = 0;
    while (used < sizeof(out) - 1 && !strstr(out, "ready=1")) {
        struct pollfd p = {.fd = sp[0], .events = POLLIN};
        if (poll(&p, 1, 20000) <= 0)
            cg_fail("the probe did not report (so far: %s)", out);
        ssize_t k = read(sp[0], out + used, sizeof(out) - 1 - used);
        if (k <= 0)
            break;
        used += (size_t)k;
        out[used] = '\0';
    }
    const char *e = strstr(out, "forkbomb_errno=");
    if (!e || atoi(e + strlen("forkbomb_errno=")) != EAGAIN)
        cg_fail("the fork bomb did not end with EAGAIN: %s", out);
    printf("ok the fork bomb inside was stopped by pids.max (EAGAIN); pids.events: %s\n",
           cg_first_line(dir, "pids.events"));

    /* The monitor dies; destroy works from sandbox.json alone. */
    kill(mon, SIGKILL);
    waitpid(mon, NULL, 0);
    pyro_error err = {0};
    if (sandbox_destroy(argv[2], ID, &err) < 0)
        cg_fail("destroy after the monitor was killed: %s", err.message);
    if (access(dir, F_OK) == 0)
        cg_fail("%s remains", dir);
    if (kill(pid, 0) == 0)
        cg_fail("PID 1 (%d) still runs", pid);
    if (access(argv[2], F_OK) == 0)
        cg_fail("%s remains", argv[2]);
    printf("ok destroyed after a killed monitor: the cgroup, PID 1 and %s are gone\n", argv[2]);
    return 0;
}
