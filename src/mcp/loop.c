/* A small epoll loop (redis ae style): each fd has one callback. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "mcp/mcp.h"

struct loop_fd {
    int fd;
    mcp_fd_cb cb;
    void *data;
    struct loop_fd *next;
};

struct mcp_loop {
    int epfd;
    struct loop_fd *fds;
    struct loop_fd *dead;
    bool stop;
    int (*prepare)(void *data);
    void *prepare_data;
};

static void free_list(struct loop_fd **list)
{
    while (*list) {
        struct loop_fd *f = *list;
        *list = f->next;
        free(f);
    }
}

struct mcp_loop *mcp_loop_new(pyro_error *err)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        err_errno(err, errno, "epoll_create1");
        return NULL;
    }
    struct mcp_loop *l = xcalloc(1, sizeof(*l));
    l->epfd = epfd;
    return l;
}

void mcp_loop_free(struct mcp_loop *l)
{
    if (!l)
        return;
    free_list(&l->fds);
    free_list(&l->dead);
    close(l->epfd);
    free(l);
}

int mcp_loop_add(struct mcp_loop *l, int fd, uint32_t events, mcp_fd_cb cb, void *data, pyro_error *err)
{
    struct loop_fd *f = xcalloc(1, sizeof(*f));
    f->fd = fd;
    f->cb = cb;
    f->data = data;
    struct epoll_event ev = {.events = events, .data.ptr = f};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        free(f);
        return err_errno(err, e, "epoll_ctl(add %d)", fd);
    }
    f->next = l->fds;
    l->fds = f;
    return 0;
}

void mcp_loop_del(struct mcp_loop *l, int fd)
{
    for (struct loop_fd **p = &l->fds; *p; p = &(*p)->next) {
        if ((*p)->fd != fd)
            continue;
        struct loop_fd *f = *p;
        *p = f->next;
        (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        /* An event for f may still wait in this iteration's array: park it
         * on the dead list (freed after the batch) so it is skipped. */
        f->cb = NULL;
        f->next = l->dead;
        l->dead = f;
        return;
    }
}

void mcp_loop_set_prepare(struct mcp_loop *l, int (*prepare)(void *data), void *data)
{
    l->prepare = prepare;
    l->prepare_data = data;
}

void mcp_loop_stop(struct mcp_loop *l)
{
    l->stop = true;
}

bool mcp_loop_stopping(const struct mcp_loop *l)
{
    return l->stop;
}

int mcp_loop_run(struct mcp_loop *l, pyro_error *err)
{
    struct epoll_event evs[32];
    while (!l->stop) {
        int timeout = l->prepare ? l->prepare(l->prepare_data) : -1;
        if (l->stop)
            break;
        int n = epoll_wait(l->epfd, evs, (int)ARRAY_SIZE(evs), timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_errno(err, errno, "epoll_wait");
        }
        for (int i = 0; i < n && !l->stop; i++) {
            struct loop_fd *f = evs[i].data.ptr;
            if (f->cb) /* NULL: removed by an earlier callback of this batch */
                f->cb(l, f->fd, evs[i].events, f->data);
        }
        free_list(&l->dead);
    }
    return 0;
}
