/* The agent's epoll registrations: the channel, the signalfd and the exec
 * pipes, each tagged with a struct watch the event loop switches on. */
#include <errno.h>
#include <sys/epoll.h>

#include "agent/agent.h"

int agent_watch_add(struct agent *a, int fd, struct watch *w, pyro_error *err)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
    if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return err_errno(err, errno, "epoll_ctl add");
    return 0;
}

int agent_watch_mod(struct agent *a, int fd, struct watch *w, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = w};
    return epoll_ctl(a->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void agent_watch_del(struct agent *a, int fd)
{
    (void)epoll_ctl(a->epfd, EPOLL_CTL_DEL, fd, NULL);
}
