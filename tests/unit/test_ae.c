/* The event loop (base/ae.h): file events, timers, deletion during
 * dispatch, stopping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/ae.h"
#include "base/cleanup.h"
#include "base/timeutil.h"

struct probe {
    int calls;
    int last_fd;
    int last_mask;
    int64_t last_ms;
};

static void count_cb(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct probe *p = data;
    p->calls++;
    p->last_fd = fd;
    p->last_mask = mask;
}

static struct ae_loop *loop_new(void)
{
    pyro_error err = {0};
    struct ae_loop *l = ae_new(&err);
    assert_non_null(l);
    return l;
}

static void pipe_nb(int p[2])
{
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
}

static void test_readable(void **state)
{
    struct ae_loop *l = loop_new();
    int p[2];
    pipe_nb(p);
    struct probe pr = {0};
    pyro_error err = {0};
    assert_int_equal(ae_file_add(l, p[0], AE_READABLE, count_cb, &pr, &err), 0);
    assert_int_equal(ae_file_mask(l, p[0]), AE_READABLE);
    /* Nothing to read: the wait times out and no callback runs. */
    assert_int_equal(ae_process(l, 10, &err), 0);
    assert_int_equal(pr.calls, 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(ae_process(l, 1000, &err), 1);
    assert_int_equal(pr.calls, 1);
    assert_int_equal(pr.last_fd, p[0]);
    assert_int_equal(pr.last_mask, AE_READABLE);
    /* Level-triggered: unread data fires again. */
    assert_int_equal(ae_process(l, 1000, &err), 1);
    assert_int_equal(pr.calls, 2);
    ae_file_del(l, p[0], AE_READABLE);
    assert_int_equal(ae_file_mask(l, p[0]), AE_NONE);
    assert_int_equal(ae_process(l, 10, &err), 0);
    assert_int_equal(pr.calls, 2);
    close(p[0]);
    close(p[1]);
    ae_free(l);
}

struct dirs {
    int reads, writes;
};

static void dir_read(struct ae_loop *loop, int fd, int mask, void *data)
{
    ((struct dirs *)data)->reads++;
    char b[16];
    (void)!read(fd, b, sizeof(b));
}

static void dir_write(struct ae_loop *loop, int fd, int mask, void *data)
{
    ((struct dirs *)data)->writes++;
}

static void test_directions(void **state)
{
    struct ae_loop *l = loop_new();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    struct dirs d = {0};
    pyro_error err = {0};
    assert_int_equal(ae_file_add(l, sv[0], AE_READABLE, dir_read, &d, &err), 0);
    assert_int_equal(ae_file_add(l, sv[0], AE_WRITABLE, dir_write, &d, &err), 0);
    assert_int_equal(ae_file_mask(l, sv[0]), AE_READABLE | AE_WRITABLE);
    /* Writable only. */
    assert_int_equal(ae_process(l, 1000, &err), 1);
    assert_int_equal(d.reads, 0);
    assert_int_equal(d.writes, 1);
    /* Both: each direction's own callback, the reader first. */
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(ae_process(l, 1000, &err), 2);
    assert_int_equal(d.reads, 1);
    assert_int_equal(d.writes, 2);
    /* Removing one direction keeps the other. */
    ae_file_del(l, sv[0], AE_WRITABLE);
    assert_int_equal(ae_file_mask(l, sv[0]), AE_READABLE);
    assert_int_equal(ae_process(l, 10, &err), 0);
    assert_int_equal(d.writes, 2);

    /* One callback for both directions runs once per round, with both bits. */
    struct probe pr = {0};
    assert_int_equal(ae_file_add(l, sv[1], AE_READABLE | AE_WRITABLE, count_cb, &pr, &err), 0);
    assert_int_equal(write(sv[0], "y", 1), 1);
    ae_file_del(l, sv[0], AE_READABLE);
    assert_int_equal(ae_process(l, 1000, &err), 1);
    assert_int_equal(pr.calls, 1);
    assert_int_equal(pr.last_mask, AE_READABLE | AE_WRITABLE);
    ae_file_del(l, sv[1], AE_READABLE | AE_WRITABLE);
    close(sv[0]);
    close(sv[1]);
    ae_free(l);
}

static void test_hangup(void **state)
{
    struct ae_loop *l = loop_new();
    int p[2];
    pipe_nb(p);
    struct probe pr = {0};
    pyro_error err = {0};
    assert_int_equal(ae_file_add(l, p[0], AE_READABLE, count_cb, &pr, &err), 0);
    close(p[1]);
    /* The writer's end is gone: the reader fires (and would read EOF). */
    assert_int_equal(ae_process(l, 1000, &err), 1);
    assert_int_equal(pr.last_mask, AE_READABLE);
    char c;
    assert_int_equal(read(p[0], &c, 1), 0);
    ae_file_del(l, p[0], AE_READABLE);
    close(p[0]);
    ae_free(l);
}

static void test_add_errors(void **state)
{
    struct ae_loop *l = loop_new();
    pyro_error err = {0};
    struct probe pr = {0};
    assert_int_equal(ae_file_add(l, -1, AE_READABLE, count_cb, &pr, &err), -EBADF);
    /* epoll refuses regular files; the MCP stdio transport says so. */
    char path[] = "/tmp/pyro-test-ae.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(ae_file_add(l, fd, AE_READABLE, count_cb, &pr, &err), -EPERM);
    assert_int_equal(ae_file_mask(l, fd), AE_NONE);
    assert_non_null(strstr(err.message, "epoll_ctl"));
    close(fd);
    /* Unknown fds are ignored by del. */
    ae_file_del(l, 5000, AE_READABLE);
    /* fds far beyond the first array size. */
    int p[2];
    pipe_nb(p);
    assert_int_equal(dup2(p[0], 300), 300);
    assert_int_equal(ae_file_add(l, 300, AE_READABLE, count_cb, &pr, &err), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(ae_process(l, 1000, &err), 1);
    assert_int_equal(pr.last_fd, 300);
    ae_file_del(l, 300, AE_READABLE);
    close(300);
    close(p[0]);
    close(p[1]);
    ae_free(l);
}

/* ---- deletion during dispatch ------------------------------------------- */

struct pair {
    struct ae_loop *loop;
    int a[2], b[2];
    int calls;
    struct probe reused;
    bool reuse;
};

static void pair_cb(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct pair *p = data;
    char c;
    (void)!read(fd, &c, 1);
    if (++p->calls > 1)
        return;
    int other = fd == p->a[0] ? p->b[0] : p->a[0];
    ae_file_del(loop, other, AE_READABLE);
    if (!p->reuse)
        return;
    /* Close the other fd and register a fresh, empty pipe under the same
     * number: the event fetched for the old one must not reach it. */
    int q[2];
    pipe_nb(q);
    assert_int_equal(dup2(q[0], other), other);
    close(q[0]);
    close(q[1]);
    pyro_error err = {0};
    assert_int_equal(ae_file_add(loop, other, AE_READABLE, count_cb, &p->reused, &err), 0);
}

static void run_pair(bool reuse)
{
    struct ae_loop *l = loop_new();
    struct pair p = {.loop = l, .reuse = reuse};
    pipe_nb(p.a);
    pipe_nb(p.b);
    pyro_error err = {0};
    assert_int_equal(ae_file_add(l, p.a[0], AE_READABLE, pair_cb, &p, &err), 0);
    assert_int_equal(ae_file_add(l, p.b[0], AE_READABLE, pair_cb, &p, &err), 0);
    assert_int_equal(write(p.a[1], "x", 1), 1);
    assert_int_equal(write(p.b[1], "x", 1), 1);
    /* Both are ready in one round; whichever runs first removes the other. */
    assert_int_equal(ae_process(l, 1000, &err), 1);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.reused.calls, 0);
    if (reuse) {
        /* The new registration works: its pipe has no writer left, so it
         * reports a hang-up in the next round. */
        assert_int_equal(ae_process(l, 1000, &err), 1);
        assert_int_equal(p.reused.calls, 1);
        assert_int_equal(p.calls, 1);
    }
    for (int fd = 0; fd < 1024; fd++)
        if (ae_file_mask(l, fd))
            ae_file_del(l, fd, AE_READABLE | AE_WRITABLE);
    close(p.a[0]);
    close(p.a[1]);
    close(p.b[0]);
    close(p.b[1]);
    ae_free(l);
}

static void test_delete_during_dispatch(void **state)
{
    run_pair(false);
}

static void test_delete_and_reuse_fd(void **state)
{
    run_pair(true);
}

/* ---- timers ------------------------------------------------------------ */

struct tick {
    int calls;
    int64_t again;    /* what the callback returns */
    int64_t del_id;   /* a timer the callback deletes, or 0 */
    int64_t added_id; /* a timer the callback added */
    struct tick *child;
    int64_t first_ms;
};

static int64_t tick_cb(struct ae_loop *loop, int64_t id, void *data)
{
    struct tick *t = data;
    if (!t->calls)
        t->first_ms = time_mono_ms();
    t->calls++;
    if (t->del_id)
        assert_int_equal(ae_timer_del(loop, t->del_id), 0);
    if (t->child && !t->added_id)
        t->added_id = ae_timer_add(loop, 0, tick_cb, t->child);
    return t->again;
}

static void test_timer_once(void **state)
{
    struct ae_loop *l = loop_new();
    pyro_error err = {0};
    struct tick t = {.again = AE_NOMORE};
    int64_t t0 = time_mono_ms();
    int64_t id = ae_timer_add(l, 50, tick_cb, &t);
    assert_true(id > 0);
    /* The wait is cut short by the timer even with no bound given. */
    assert_int_equal(ae_process(l, -1, &err), 1);
    assert_int_equal(t.calls, 1);
    assert_true(t.first_ms - t0 >= 50);
    /* AE_NOMORE: gone. */
    assert_int_equal(ae_process(l, 20, &err), 0);
    assert_int_equal(t.calls, 1);
    assert_int_equal(ae_timer_del(l, id), -ENOENT);
    ae_free(l);
}

static void test_timer_periodic_and_del(void **state)
{
    struct ae_loop *l = loop_new();
    pyro_error err = {0};
    struct tick t = {.again = 5};
    int64_t id = ae_timer_add(l, 0, tick_cb, &t);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ae_process(l, -1, &err), 1);
    assert_int_equal(t.calls, 3);
    assert_int_equal(ae_timer_del(l, id), 0);
    assert_int_equal(ae_timer_del(l, id), -ENOENT);
    assert_int_equal(ae_process(l, 30, &err), 0);
    assert_int_equal(t.calls, 3);

    /* A timer deleted by another timer's callback in the same round does
     * not run; one added in a round waits for the next. */
    struct tick victim = {.again = AE_NOMORE};
    struct tick later = {.again = AE_NOMORE};
    int64_t vid = ae_timer_add(l, 0, tick_cb, &victim);
    struct tick killer = {.again = AE_NOMORE, .del_id = vid, .child = &later};
    /* Added last, the killer is first in the list and runs first. */
    ae_timer_add(l, 0, tick_cb, &killer);
    assert_int_equal(ae_process(l, -1, &err), 1);
    assert_int_equal(killer.calls, 1);
    assert_int_equal(victim.calls, 0);
    assert_int_equal(later.calls, 0);
    assert_int_equal(ae_process(l, -1, &err), 1);
    assert_int_equal(later.calls, 1);
    assert_int_equal(victim.calls, 0);

    /* A timer deleting itself is not rescheduled. */
    struct tick self = {.again = 0};
    self.del_id = ae_timer_add(l, 0, tick_cb, &self);
    assert_int_equal(ae_process(l, -1, &err), 1);
    assert_int_equal(ae_process(l, 20, &err), 0);
    assert_int_equal(self.calls, 1);
    ae_free(l);
}

/* ---- stop and before_sleep -------------------------------------------- */

static void stop_cb(struct ae_loop *loop, int fd, int mask, void *data)
{
    (*(int *)data)++;
    char b[8];
    (void)!read(fd, b, sizeof(b));
    ae_stop(loop);
}

struct sleeper {
    int calls;
    int stop_at;
    int bound;
};

static int sleeper_cb(struct ae_loop *loop, void *data)
{
    struct sleeper *s = data;
    if (++s->calls == s->stop_at)
        ae_stop(loop);
    return s->bound;
}

static void test_stop(void **state)
{
    struct ae_loop *l = loop_new();
    pyro_error err = {0};
    int a[2], b[2], calls = 0;
    pipe_nb(a);
    pipe_nb(b);
    assert_int_equal(ae_file_add(l, a[0], AE_READABLE, stop_cb, &calls, &err), 0);
    assert_int_equal(ae_file_add(l, b[0], AE_READABLE, stop_cb, &calls, &err), 0);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "x", 1), 1);
    /* Two events ready; the first callback stops the loop, the second
     * event is not delivered. */
    assert_int_equal(ae_run(l, &err), 0);
    assert_int_equal(calls, 1);
    assert_true(ae_stopping(l));
    /* ae_run starts again after a stop; the other event is still there. */
    assert_int_equal(ae_run(l, &err), 0);
    assert_int_equal(calls, 2);

    /* before_sleep runs before every wait, bounds it, and may stop. */
    struct sleeper s = {.stop_at = 4, .bound = 0};
    ae_set_before_sleep(l, sleeper_cb, &s);
    int64_t t0 = time_mono_ms();
    assert_int_equal(ae_run(l, &err), 0);
    assert_int_equal(s.calls, 4);
    assert_true(time_mono_ms() - t0 < 1000); /* bound 0: no blocking wait */
    /* A timer ends a wait that before_sleep leaves unbounded. */
    struct tick t = {.again = AE_NOMORE};
    ae_timer_add(l, 10, tick_cb, &t);
    s = (struct sleeper){.stop_at = 2, .bound = -1};
    assert_int_equal(ae_run(l, &err), 0);
    assert_int_equal(t.calls, 1);
    ae_file_del(l, a[0], AE_READABLE);
    ae_file_del(l, b[0], AE_READABLE);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    ae_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readable),
        cmocka_unit_test(test_directions),
        cmocka_unit_test(test_hangup),
        cmocka_unit_test(test_add_errors),
        cmocka_unit_test(test_delete_during_dispatch),
        cmocka_unit_test(test_delete_and_reuse_fd),
        cmocka_unit_test(test_timer_once),
        cmocka_unit_test(test_timer_periodic_and_del),
        cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
