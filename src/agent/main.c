/* pyro-agent: PID 1 of every sandbox and VM, serving the agent protocol
 * (docs/agent-protocol.md) on one channel. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <pyro/version.h>

#include "agent/agent.h"
#include "base/cleanup.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: " AGENT_NAME " (--channel-fd N | --channel-path PATH) [--init | --no-init]\n"
               "  --channel-fd N       serve the protocol on inherited fd N\n"
               "  --channel-path PATH  open PATH (a virtio-serial port) and serve on it\n"
               "  --init / --no-init   force or skip PID 1 duties (default: init when PID 1)\n");
}

/* Keeps 0, 1 and 2 allocated so no channel or pipe ever lands there. */
static void ensure_stdio(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0) {
            int n = open("/dev/null", O_RDWR);
            if (n >= 0 && n != fd) {
                dup2(n, fd);
                close(n);
            }
        }
}

int main(int argc, char **argv)
{
    /* Before anything else: nothing the agent runs may read its memory,
     * take its fds (the channel) or look into /proc/1, even with a call
     * the sandbox's filter lets through. Without CAP_SYS_PTRACE, which the
     * commands do not have, ptrace access to a process that is not
     * dumpable is refused (docs/threat-model.md). Commands are dumpable
     * again after their execve. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        fprintf(stderr, "pyro-agent: prctl(PR_SET_DUMPABLE): %s\n", strerror(errno));
        return 1;
    }
    static const struct option opts[] = {
        {"channel-fd", required_argument, NULL, 'f'},
        {"channel-path", required_argument, NULL, 'p'},
        {"init", no_argument, NULL, 'i'},
        {"no-init", no_argument, NULL, 'n'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int chan_fd = -1, init_mode = getpid() == 1, c;
    const char *chan_path = NULL;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 1 << 20) {
                fprintf(stderr, AGENT_NAME ": bad --channel-fd '%s'\n", optarg);
                return 2;
            }
            chan_fd = (int)v;
            break;
        }
        case 'p': chan_path = optarg; break;
        case 'i': init_mode = 1; break;
        case 'n': init_mode = 0; break;
        case 'V': printf(AGENT_NAME " %s (protocol %d)\n", PYRO_VERSION, PROTO_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    pyro_error err = {0};
    /* /init of a VM's initramfs: no arguments, the kernel command line
     * says what to do. */
    bool vm = chan_fd < 0 && !chan_path && init_vm_detect();
    if (vm) {
        init_mode = 1;
        if (init_vm_setup(&chan_fd, &err) < 0)
            init_poweroff(false);
    }
    if ((chan_fd < 0) == (chan_path == NULL)) {
        usage(stderr);
        return 2;
    }

    if (init_mode) {
        init_guard_creds();
        (void)init_mounts(&err);
    }
    ensure_stdio();
    /* Orphans of exec'd commands are reparented to us and reaped. */
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (chan_path) {
        chan_fd = open(chan_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (chan_fd < 0) {
            fprintf(stderr, AGENT_NAME ": open %s: %s\n", chan_path, strerror(errno));
            return 1;
        }
    }

    struct agent a;
    int r = agent_init(&a, chan_fd, init_mode, &err);
    a.vm = vm;
    if (r >= 0)
        r = agent_run(&a, &err);
    if (r < 0)
        fprintf(stderr, AGENT_NAME ": %s\n", err.message);
    bool poweroff = a.poweroff, flush = a.poweroff_flush;
    agent_destroy(&a);
    /* PID 1 of a VM never just exits (the kernel would panic): the host
     * hanging up ends the VM as a shutdown does. */
    if (vm && !poweroff)
        poweroff = flush = true;
    if (poweroff)
        init_poweroff(flush);
    return r < 0 ? 1 : 0;
}
