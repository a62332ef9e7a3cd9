/* The agent's connection: one epoll set with the channel, a signalfd for
 * SIGCHLD and the exec pipes. Frames are decoded as bytes arrive and handed
 * to dispatch.c; replies go through the bounded output queue of send.c,
 * flushed again here when the channel is writable. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent/agent.h"
#include "base/cleanup.h"
#include "base/timeutil.h"

static int on_channel(struct agent *a, uint32_t events, pyro_error *err)
{
    if (events & EPOLLOUT)
        agent_outq_flush(a);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return 0;
    for (;;) {
        ssize_t n = proto_reader_fill(&a->rd, a->chan_fd);
        if (n == -EAGAIN)
            break;
        if (n <= 0) {
            a->chan_eof = true;
            agent_watch_del(a, a->chan_fd);
            break;
        }
        struct proto_frame f;
        int r;
        while ((r = proto_reader_next(&a->rd, &f, err)) > 0) {
            agent_dispatch(a, &f);
            proto_frame_clear(&f);
        }
        if (r < 0)
            return r; /* the stream is out of sync: nothing can be trusted */
        if (agent_outq_pending(a) >= AGENT_OUTQ_HIGH)
            break; /* let the host drain replies first */
    }
    return 0;
}

static void on_signal(struct agent *a)
{
    struct signalfd_siginfo si;
    while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
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
    a->chan_watch = (struct watch){.kind = WATCH_CHANNEL, .obj = a};
    a->sig_watch = (struct watch){.kind = WATCH_SIGNAL, .obj = a};

    int fl = fcntl(chan_fd, F_GETFL);
    if (fl < 0 || fcntl(chan_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(chan_fd, F_SETFD, FD_CLOEXEC) < 0)
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
    a->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (a->epfd < 0)
        return err_errno(err, errno, "epoll_create1");
    int r = agent_watch_add(a, a->chan_fd, &a->chan_watch, err);
    if (r < 0)
        return r;
    return agent_watch_add(a, a->sigfd, &a->sig_watch, err);
}

int agent_run(struct agent *a, pyro_error *err)
{
    struct epoll_event evs[32];

    /* Runs until shutdown, or until the host hangs up and nothing is left
     * to finish (as PID 1 the agent keeps reaping: the sandbox lives on). */
    while (!a->quit && !(a->chan_eof && !a->init_mode)) {
        int timeout = exec_tick(a);
        agent_streams_pump(a);
        int n = epoll_wait(a->epfd, evs, (int)ARRAY_SIZE(evs), timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_errno(err, errno, "epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct watch *w = evs[i].data.ptr;
            switch (w->kind) {
            case WATCH_CHANNEL: {
                int r = on_channel(a, evs[i].events, err);
                if (r < 0)
                    return r;
                break;
            }
            case WATCH_SIGNAL: on_signal(a); break;
            case WATCH_EXEC_OUT: exec_on_pipe(a, w->obj, false); break;
            case WATCH_EXEC_ERR: exec_on_pipe(a, w->obj, true); break;
            default: break;
            }
        }
    }
    /* Deliver the last replies (the shutdown answer) before leaving. */
    int fl = fcntl(a->chan_fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(a->chan_fd, F_SETFL, fl & ~O_NONBLOCK);
    if (!a->chan_eof && a->outq_len > a->outq_off)
        (void)proto_write_all(a->chan_fd, a->outq + a->outq_off, a->outq_len - a->outq_off, 5000,
                              NULL);
    return 0;
}

void agent_destroy(struct agent *a)
{
    exec_free_all(a);
    agent_streams_free_all(a);
    proto_reader_free(&a->rd);
    free(a->outq);
    if (a->sigfd >= 0)
        close(a->sigfd);
    if (a->epfd > 0)
        close(a->epfd);
}
