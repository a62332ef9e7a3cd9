/* The agent's connection, on the event loop of base/ae.h: the channel, a
 * signalfd for SIGCHLD and the exec pipes (exec.c) are its file events.
 * Frames are decoded as bytes arrive and handed to dispatch.c; replies go
 * through the bounded output queue of send.c, which flushes itself when
 * the channel is writable. Before every wait, exec deadlines are enforced
 * and streamed responses produce more data. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent/agent.h"
#include "base/cleanup.h"
#include "base/timeutil.h"

static void chan_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct agent *a = data;
    for (;;) {
        ssize_t n = proto_reader_fill(&a->rd, fd);
        if (n == -EAGAIN)
            break;
        if (n <= 0) {
            a->chan_eof = true;
            ae_file_del(loop, fd, AE_READABLE | AE_WRITABLE);
            break;
        }
        struct proto_frame f;
        int r;
        while ((r = proto_reader_next(&a->rd, &f, a->run_err)) > 0) {
            agent_dispatch(a, &f);
            proto_frame_clear(&f);
        }
        if (r < 0) {
            /* The stream is out of sync: nothing can be trusted. */
            a->run_r = r;
            ae_stop(loop);
            return;
        }
        if (agent_outq_pending(a) >= AGENT_OUTQ_HIGH)
            break; /* let the host drain replies first */
    }
}

/* Whether a SIGTERM or SIGINT may end the agent. As PID 1 (of a sandbox's
 * PID namespace or of a VM) the commands it runs are in its namespace and
 * may signal it: the kernel drops what init does not handle, but these two
 * are blocked into the signalfd, so they arrive. Only a kill() from outside
 * the namespace counts: SI_USER with a sender the namespace cannot see
 * (ssi_pid 0). That cannot be forged from inside: rt_sigqueueinfo and
 * pidfd_send_signal refuse a si_code >= 0 for another process, so a forged
 * si_pid 0 comes with SI_QUEUE or another negative code. Kernel-made ones
 * (SI_KERNEL: a terminal's ^C, Ctrl-Alt-Del in a VM) do not count either:
 * a command could provoke them, and the host stops the agent with the
 * shutdown request or SIGKILL. Outside init mode (tests, --no-init) the
 * agent is an ordinary process and any sender counts. */
static bool signal_trusted(const struct agent *a, const struct signalfd_siginfo *si)
{
    if (!a->init_mode)
        return true;
    return si->ssi_code == SI_USER && si->ssi_pid == 0;
}

static void sig_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct agent *a = data;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        /* SIGCHLD from anyone only makes us reap, which is harmless. */
        if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && signal_trusted(a, &si))
            a->quit = true;
    }
    exec_reap(a);
}

int agent_init(struct agent *a, int chan_fd, bool init_mode, pyro_error *err)
{
    sigset_t mask;

    memset(a, 0, sizeof(*a));
    a->chan_fd = chan_fd;
    a->sigfd = -1;
    a->init_mode = init_mode;
    a->start_ms = time_mono_ms();
    outq_init(&a->out, AGENT_OUTQ_MAX);

    int fl = fcntl(chan_fd, F_GETFL);
    if (fl < 0 || fcntl(chan_fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(chan_fd, F_SETFD, FD_CLOEXEC) < 0)
        return err_errno(err, errno, "channel fd %d", chan_fd);

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        return err_errno(err, errno, "sigprocmask");
    a->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (a->sigfd < 0)
        return err_errno(err, errno, "signalfd");
    a->loop = ae_new(err);
    if (!a->loop)
        return err->code;
    int r = ae_file_add(a->loop, a->chan_fd, AE_READABLE, chan_readable, a, err);
    if (r < 0)
        return r;
    return ae_file_add(a->loop, a->sigfd, AE_READABLE, sig_readable, a, err);
}

/* Before every wait: stop when done, enforce exec deadlines, produce
 * stream data; the next exec deadline bounds the wait. */
static int before_sleep(struct ae_loop *loop, void *data)
{
    struct agent *a = data;
    /* Runs until shutdown, or until the host hangs up and nothing is left
     * to finish (as PID 1 the agent keeps reaping: the sandbox lives on). */
    if (a->quit || (a->chan_eof && !a->init_mode)) {
        ae_stop(loop);
        return 0;
    }
    int timeout = exec_tick(a);
    agent_streams_pump(a);
    return timeout;
}

int agent_run(struct agent *a, pyro_error *err)
{
    a->run_err = err;
    a->run_r = 0;
    ae_set_before_sleep(a->loop, before_sleep, a);
    int r = ae_run(a->loop, err);
    a->run_err = NULL;
    if (r < 0)
        return r;
    if (a->run_r < 0)
        return a->run_r;
    /* Deliver the last replies (the shutdown answer) before leaving. */
    if (!a->chan_eof)
        (void)outq_drain(&a->out, a->chan_fd, 5000);
    return 0;
}

void agent_destroy(struct agent *a)
{
    exec_free_all(a);
    service_free_all(a);
    shell_free_all(a);
    portfwd_free_all(a);
    agent_streams_free_all(a);
    proto_reader_free(&a->rd);
    outq_free(&a->out);
    if (a->sigfd >= 0)
        close(a->sigfd);
    ae_free(a->loop);
    a->loop = NULL;
}
