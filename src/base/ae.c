/* The event loop (ae.h): file events in an array indexed by fd, timers in
 * an unsorted list (there are few), epoll for the wait. */
#include "base/ae.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/timeutil.h"

#define AE_BATCH 64

struct ae_file {
    int mask;
    uint32_t gen; /* bumped when the fd is forgotten: stale events differ */
    ae_file_fn *rfn, *wfn;
    void *data;
};

struct ae_timer {
    struct ae_timer *next;
    int64_t id;
    int64_t when_ms; /* monotonic */
    ae_timer_fn *fn;
    void *data;
    bool deleted; /* freed by the next sweep, never during a round */
};

struct ae_loop {
    int epfd;
    struct ae_file *files;
    int nfiles; /* slots in files */
    struct ae_timer *timers;
    int64_t next_timer_id;
    bool stop;
    ae_sleep_fn *before_sleep;
    void *before_sleep_data;
};

struct ae_loop *ae_new(pyro_error *err)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        err_errno(err, errno, "epoll_create1");
        return NULL;
    }
    struct ae_loop *l = xcalloc(1, sizeof(*l));
    l->epfd = epfd;
    l->next_timer_id = 1;
    return l;
}

void ae_free(struct ae_loop *l)
{
    if (!l)
        return;
    while (l->timers) {
        struct ae_timer *t = l->timers;
        l->timers = t->next;
        free(t);
    }
    free(l->files);
    close(l->epfd);
    free(l);
}

/* ---- file events ------------------------------------------------------ */

static uint32_t epoll_mask(int mask)
{
    return (mask & AE_READABLE ? EPOLLIN : 0u) | (mask & AE_WRITABLE ? EPOLLOUT : 0u);
}

int ae_file_add(struct ae_loop *l, int fd, int mask, ae_file_fn *fn, void *data, pyro_error *err)
{
    if (fd < 0)
        return err_errno(err, EBADF, "ae_file_add(%d)", fd);
    if (fd >= l->nfiles) {
        int n = l->nfiles ? l->nfiles : 64;
        while (n <= fd)
            n *= 2;
        l->files = xrealloc(l->files, (size_t)n * sizeof(*l->files));
        memset(l->files + l->nfiles, 0, (size_t)(n - l->nfiles) * sizeof(*l->files));
        l->nfiles = n;
    }
    struct ae_file *f = &l->files[fd];
    int want = f->mask | mask;
    if (want != f->mask) {
        struct epoll_event ev = {.events = epoll_mask(want), .data.u64 = (uint64_t)f->gen << 32 | (uint32_t)fd};
        if (epoll_ctl(l->epfd, f->mask ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
            return err_errno(err, errno, "epoll_ctl(%s %d)", f->mask ? "mod" : "add", fd);
    }
    f->mask = want;
    if (mask & AE_READABLE)
        f->rfn = fn;
    if (mask & AE_WRITABLE)
        f->wfn = fn;
    f->data = data;
    return 0;
}

void ae_file_del(struct ae_loop *l, int fd, int mask)
{
    if (fd < 0 || fd >= l->nfiles || !(l->files[fd].mask & mask))
        return;
    struct ae_file *f = &l->files[fd];
    int want = f->mask & ~mask;
    if (want == AE_NONE) {
        /* Fails harmlessly when the fd was closed already. */
        (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        *f = (struct ae_file){.gen = f->gen + 1};
        return;
    }
    struct epoll_event ev = {.events = epoll_mask(want), .data.u64 = (uint64_t)f->gen << 32 | (uint32_t)fd};
    (void)epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
    f->mask = want;
    if (!(want & AE_READABLE))
        f->rfn = NULL;
    if (!(want & AE_WRITABLE))
        f->wfn = NULL;
}

int ae_file_mask(const struct ae_loop *l, int fd)
{
    return fd >= 0 && fd < l->nfiles ? l->files[fd].mask : AE_NONE;
}

/* ---- timers ----------------------------------------------------------- */

int64_t ae_timer_add(struct ae_loop *l, int64_t ms, ae_timer_fn *fn, void *data)
{
    struct ae_timer *t = xcalloc(1, sizeof(*t));
    t->id = l->next_timer_id++;
    t->when_ms = time_mono_ms() + (ms > 0 ? ms : 0);
    t->fn = fn;
    t->data = data;
    t->next = l->timers;
    l->timers = t;
    return t->id;
}

int ae_timer_del(struct ae_loop *l, int64_t id)
{
    for (struct ae_timer *t = l->timers; t; t = t->next)
        if (t->id == id && !t->deleted) {
            t->deleted = true;
            return 0;
        }
    return -ENOENT;
}

static void timers_sweep(struct ae_loop *l)
{
    for (struct ae_timer **p = &l->timers; *p;) {
        struct ae_timer *t = *p;
        if (t->deleted) {
            *p = t->next;
            free(t);
        } else {
            p = &t->next;
        }
    }
}

/* ms until the earliest live timer (0 when one is due), or -1. */
static int64_t timers_wait(const struct ae_loop *l, int64_t now)
{
    int64_t wait = -1;
    for (const struct ae_timer *t = l->timers; t; t = t->next) {
        if (t->deleted)
            continue;
        int64_t d = t->when_ms > now ? t->when_ms - now : 0;
        if (wait < 0 || d < wait)
            wait = d;
    }
    return wait;
}

static int timers_run(struct ae_loop *l)
{
    int ran = 0;
    /* Timers added by a callback go to the head of the list, behind this
     * pass: they first run in a later round. */
    for (struct ae_timer *t = l->timers; t && !l->stop; t = t->next) {
        if (t->deleted)
            continue;
        int64_t now = time_mono_ms();
        if (t->when_ms > now)
            continue;
        int64_t next = t->fn(l, t->id, t->data);
        ran++;
        if (t->deleted)
            continue; /* it deleted itself */
        if (next == AE_NOMORE)
            t->deleted = true;
        else
            t->when_ms = time_mono_ms() + (next > 0 ? next : 0);
    }
    return ran;
}

/* ---- the loop --------------------------------------------------------- */

void ae_set_before_sleep(struct ae_loop *l, ae_sleep_fn *fn, void *data)
{
    l->before_sleep = fn;
    l->before_sleep_data = data;
}

void ae_stop(struct ae_loop *l)
{
    l->stop = true;
}

bool ae_stopping(const struct ae_loop *l)
{
    return l->stop;
}

static int fired_mask(uint32_t events)
{
    int m = 0;
    if (events & EPOLLIN)
        m |= AE_READABLE;
    if (events & EPOLLOUT)
        m |= AE_WRITABLE;
    if (events & (EPOLLERR | EPOLLHUP))
        m |= AE_READABLE | AE_WRITABLE;
    return m;
}

/* Runs the callbacks of one fetched event; returns how many ran. */
static int file_dispatch(struct ae_loop *l, uint64_t key, uint32_t events)
{
    int fd = (int)(uint32_t)key;
    uint32_t gen = (uint32_t)(key >> 32);
    if (fd >= l->nfiles || l->files[fd].gen != gen)
        return 0; /* forgotten by an earlier callback of this round */
    int fired = fired_mask(events) & l->files[fd].mask;
    int ran = 0;
    ae_file_fn *rfn = NULL;
    if (fired & AE_READABLE) {
        rfn = l->files[fd].rfn;
        rfn(l, fd, fired, l->files[fd].data);
        ran++;
    }
    /* The read callback may have changed the array, the fd or its mask. */
    if ((fired & AE_WRITABLE) && !l->stop && fd < l->nfiles) {
        struct ae_file *f = &l->files[fd];
        if (f->gen == gen && (f->mask & AE_WRITABLE) && f->wfn != rfn) {
            f->wfn(l, fd, fired, f->data);
            ran++;
        }
    }
    return ran;
}

int ae_process(struct ae_loop *l, int timeout_ms, pyro_error *err)
{
    timers_sweep(l);
    int64_t tw = timers_wait(l, time_mono_ms());
    int wait = timeout_ms;
    if (tw >= 0 && (wait < 0 || tw < wait))
        wait = (int)(tw > INT32_MAX ? INT32_MAX : tw);

    struct epoll_event evs[AE_BATCH];
    int n = epoll_wait(l->epfd, evs, AE_BATCH, wait);
    if (n < 0) {
        if (errno != EINTR)
            return err_errno(err, errno, "epoll_wait");
        n = 0;
    }
    int ran = 0;
    for (int i = 0; i < n && !l->stop; i++)
        ran += file_dispatch(l, evs[i].data.u64, evs[i].events);
    if (!l->stop)
        ran += timers_run(l);
    return ran;
}

int ae_run(struct ae_loop *l, pyro_error *err)
{
    l->stop = false;
    while (!l->stop) {
        int bound = l->before_sleep ? l->before_sleep(l, l->before_sleep_data) : -1;
        if (l->stop)
            break;
        int r = ae_process(l, bound, err);
        if (r < 0)
            return r;
    }
    return 0;
}
