/* The output queue (base/outq.h): the bound, partial writes, sockets and
 * pipes, a peer that is gone, draining before exit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/outq.h"

/* Byte i of the test stream. */
static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 7 + i / 251);
}

static void fill(uint8_t *buf, size_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern(off + i);
}

/* Reads what is there (non-blocking) and checks it continues the stream at
 * *seen. */
static size_t read_check(int fd, size_t *seen)
{
    uint8_t buf[65536];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            assert_int_equal(buf[i], pattern(*seen + (size_t)i));
        *seen += (size_t)n;
        got += (size_t)n;
    }
    return got;
}

static void test_bound(void **state)
{
    struct outq q;
    outq_init(&q, 1000);
    pyro_error err = {0};
    uint8_t data[1001];
    fill(data, 0, sizeof(data));
    assert_int_equal(outq_push(&q, data, 600, &err), 0);
    assert_int_equal(outq_pending(&q), 600);
    /* 600 + 401 > 1000: refused whole, the queue unchanged, the bound named. */
    assert_int_equal(outq_push(&q, data, 401, &err), -PYRO_E_LIMIT);
    assert_int_equal(outq_pending(&q), 600);
    assert_non_null(strstr(err.message, "1000 bytes"));
    assert_non_null(strstr(err.message, "600 bytes pending"));
    /* Exactly up to the bound is fine. */
    assert_int_equal(outq_push(&q, data + 600, 400, &err), 0);
    assert_int_equal(outq_pending(&q), 1000);
    assert_int_equal(outq_push(&q, data, 1, &err), -PYRO_E_LIMIT);
    /* A single push larger than the bound, on an empty queue. */
    outq_clear(&q);
    assert_int_equal(outq_pending(&q), 0);
    assert_int_equal(outq_push(&q, data, 1001, &err), -PYRO_E_LIMIT);
    assert_int_equal(outq_push(&q, data, 1000, &err), 0);
    assert_memory_equal(q.buf + q.off, data, 1000);
    outq_free(&q);
    assert_int_equal(outq_pending(&q), 0);
    assert_int_equal(q.max, 1000);
}

static void test_partial_writes(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct outq q;
    outq_init(&q, 8u * 1024 * 1024);
    pyro_error err = {0};
    const size_t total = 2u * 1024 * 1024, step = 100000;
    _cleanup_free_ uint8_t *data = xmalloc(total);
    fill(data, 0, total);
    size_t pushed = 0, seen = 0;
    int partial = 0;
    /* Push in steps while the reader takes a little at a time: the queue
     * moves its pending bytes to the front and keeps the order. */
    while (seen < total) {
        if (pushed < total) {
            size_t n = total - pushed < step ? total - pushed : step;
            assert_int_equal(outq_push(&q, data + pushed, n, &err), 0);
            pushed += n;
        }
        assert_int_equal(outq_flush(&q, sv[0]), 0);
        if (outq_pending(&q))
            partial++;
        read_check(sv[1], &seen);
    }
    assert_int_equal(seen, total);
    assert_int_equal(outq_pending(&q), 0);
    assert_true(partial > 0); /* the socket did take only part at times */
    assert_false(q.not_socket);
    outq_free(&q);
    close(sv[0]);
    close(sv[1]);
}

static void test_pipe(void **state)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    struct outq q;
    outq_init(&q, 1u << 20);
    pyro_error err = {0};
    uint8_t data[200000];
    fill(data, 0, sizeof(data));
    assert_int_equal(outq_push(&q, data, sizeof(data), &err), 0);
    /* A pipe holds 64 KiB by default: part goes now, the rest later. */
    assert_int_equal(outq_flush(&q, p[1]), 0);
    assert_true(q.not_socket);
    assert_true(outq_pending(&q) > 0 && outq_pending(&q) < sizeof(data));
    size_t seen = 0;
    while (seen < sizeof(data)) {
        read_check(p[0], &seen);
        assert_int_equal(outq_flush(&q, p[1]), 0);
    }
    assert_int_equal(outq_pending(&q), 0);
    outq_free(&q);
    close(p[0]);
    close(p[1]);
}

static void test_peer_gone(void **state)
{
    /* A socket: -EPIPE, and no SIGPIPE (it would end this test). */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[1]);
    struct outq q;
    outq_init(&q, 1024);
    pyro_error err = {0};
    assert_int_equal(outq_push(&q, "hello", 5, &err), 0);
    assert_int_equal(outq_flush(&q, sv[0]), -EPIPE);
    assert_int_equal(outq_pending(&q), 5);
    assert_int_equal(outq_drain(&q, sv[0], 1000), -EPIPE);
    close(sv[0]);
    /* A pipe: -EPIPE with SIGPIPE ignored, as pyro's processes do. */
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    close(p[0]);
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGPIPE, &ign, &old);
    assert_int_equal(outq_flush(&q, p[1]), -EPIPE);
    sigaction(SIGPIPE, &old, NULL);
    close(p[1]);
    outq_free(&q);
}

static void test_drain(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    struct outq q;
    outq_init(&q, 16u * 1024 * 1024);
    pyro_error err = {0};
    const size_t total = 4u * 1024 * 1024;
    _cleanup_free_ uint8_t *data = xmalloc(total);
    fill(data, 0, total);
    assert_int_equal(outq_push(&q, data, total, &err), 0);
    /* Nobody reads: the socket fills and the drain gives up in time. */
    assert_int_equal(outq_drain(&q, sv[0], 100), -ETIMEDOUT);
    assert_true(outq_pending(&q) > 0);
    /* A reader in a child: the drain delivers everything, in order. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        int fl = fcntl(sv[1], F_GETFL);
        fcntl(sv[1], F_SETFL, fl & ~O_NONBLOCK);
        size_t seen = 0;
        uint8_t buf[65536];
        for (;;) {
            ssize_t n = read(sv[1], buf, sizeof(buf));
            if (n <= 0)
                break;
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] != pattern(seen + (size_t)i))
                    _exit(2);
            seen += (size_t)n;
        }
        _exit(seen == total ? 0 : 3);
    }
    close(sv[1]);
    assert_int_equal(outq_drain(&q, sv[0], 10000), 0);
    assert_int_equal(outq_pending(&q), 0);
    close(sv[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    outq_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound),     cmocka_unit_test(test_partial_writes), cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_peer_gone), cmocka_unit_test(test_drain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
