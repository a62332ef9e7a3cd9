/* The agent's port_connect (agent/portfwd.c), spoken frame by frame over
 * the real pyro-agent's channel (non-init mode, so 127.0.0.1 is the test's
 * own): bytes echoed both ways under a small window with acks, the end of
 * the host's side passed on as a half-close, a refused connect and a bad
 * port answered with errors, and a host that sends past what the agent
 * buffers is cut off with a limit error instead of growing the agent. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_fixture.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "proto/proto.h"

struct chan {
    int fd;
    struct proto_reader rd;
};

static void send_frame(struct chan *ch, json_t *hdr, const void *body, size_t len)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    pyro_error err = {0};
    assert_int_equal(proto_frame_encode(hdr, body, len, &buf, &n, &err), 0);
    assert_int_equal(proto_write_all(ch->fd, buf, n, T_MS, &err), 0);
    free(buf);
    json_decref(hdr);
}

/* The next frame of id (others are skipped: acks of other requests). */
static void next_frame(struct chan *ch, int64_t id, struct proto_frame *f)
{
    for (;;) {
        pyro_error err = {0};
        int r = proto_reader_next(&ch->rd, f, &err);
        assert_true(r >= 0);
        if (r > 0) {
            if (f->id == id)
                return;
            proto_frame_clear(f);
            continue;
        }
        assert_true(proto_reader_fill(&ch->rd, ch->fd) > 0);
    }
}

static void hello(struct chan *ch)
{
    json_t *h = proto_header_new(PROTO_HELLO, 0);
    json_set(h, "version", json_integer(PROTO_VERSION));
    send_frame(ch, h, NULL, 0);
    struct proto_frame f = {0};
    next_frame(ch, 0, &f);
    assert_int_equal(f.type, PROTO_HELLO);
    proto_frame_clear(&f);
}

static void connect_req(struct chan *ch, int64_t id, json_int_t port, int window)
{
    json_t *h = proto_header_new(PROTO_REQ, id);
    json_set(h, "op", json_string("port_connect"));
    json_set(h, "args", json_pack("{s:I}", "port", port));
    json_set(h, "stream", json_true());
    json_set(h, "window", json_integer(window));
    send_frame(ch, h, NULL, 0);
}

/* A listener on 127.0.0.1; *port gets its port. */
static int listener(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(s, 4), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return s;
}

/* A child that echoes one connection (read until EOF, write back). */
static pid_t echo_server(int *port)
{
    int s = listener(port);
    pid_t pid = fork();
    if (pid == 0) {
        int c = accept(s, NULL, NULL);
        char buf[4096];
        ssize_t n;
        while ((n = read(c, buf, sizeof(buf))) > 0)
            if (write(c, buf, (size_t)n) != n)
                _exit(1);
        _exit(0);
    }
    close(s);
    return pid;
}

static void test_portfwd(void **state)
{
    struct chan ch = {.fd = -1};
    pid_t agent = agent_fx_spawn(&ch.fd);
    assert_true(agent > 0);
    hello(&ch);

    /* Echo 100000 bytes with a 4096-byte window: the agent waits for acks. */
    int port;
    pid_t srv = echo_server(&port);
    connect_req(&ch, 1, port, 4096);
    static uint8_t out[100000];
    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)(i * 7);
    size_t sent = 0, got = 0, acked = 0;
    uint8_t *back = xmalloc(sizeof(out));
    bool ended = false;
    struct proto_frame f = {0};
    while (got < sizeof(out)) {
        /* Keep at most 8 KiB unacked towards the agent. */
        while (sent < sizeof(out) && sent - acked < 8192) {
            size_t n = sizeof(out) - sent < 1000 ? sizeof(out) - sent : 1000;
            send_frame(&ch, proto_header_new(PROTO_DATA, 1), out + sent, n);
            sent += n;
        }
        if (sent == sizeof(out) && !ended) {
            send_frame(&ch, proto_header_new(PROTO_END, 1), NULL, 0);
            ended = true;
        }
        next_frame(&ch, 1, &f);
        if (f.type == PROTO_ACK) {
            acked += (size_t)json_get_int(f.hdr, "bytes", 0);
        } else {
            assert_int_equal(f.type, PROTO_DATA);
            assert_true(f.body_len <= 4096 && got + f.body_len <= sizeof(out));
            memcpy(back + got, f.body, f.body_len);
            got += f.body_len;
            json_t *a = proto_header_new(PROTO_ACK, 1);
            json_set(a, "bytes", json_integer((json_int_t)f.body_len));
            send_frame(&ch, a, NULL, 0);
        }
        proto_frame_clear(&f);
    }
    assert_memory_equal(back, out, sizeof(out));
    free(back);
    /* The half-close reached the server, which closed: the response. */
    do {
        proto_frame_clear(&f);
        next_frame(&ch, 1, &f);
    } while (f.type == PROTO_ACK);
    assert_int_equal(f.type, PROTO_RESP);
    assert_true(json_is_true(json_object_get(f.hdr, "ok")));
    json_t *res = json_object_get(f.hdr, "result");
    assert_int_equal(json_get_int(res, "bytes_in", -1), sizeof(out));
    assert_int_equal(json_get_int(res, "bytes_out", -1), sizeof(out));
    proto_frame_clear(&f);
    int st;
    assert_int_equal(waitpid(srv, &st, 0), srv);

    /* Nothing listens: refused. A bad port: invalid. */
    int s = listener(&port);
    close(s);
    connect_req(&ch, 2, port, 4096);
    next_frame(&ch, 2, &f);
    assert_int_equal(f.type, PROTO_RESP);
    assert_int_equal(json_get_int(json_object_get(f.hdr, "error"), "code", 0), -ECONNREFUSED);
    proto_frame_clear(&f);
    connect_req(&ch, 3, 70000, 4096);
    next_frame(&ch, 3, &f);
    assert_int_equal(json_get_int(json_object_get(f.hdr, "error"), "code", 0), -PYRO_E_INVALID);
    proto_frame_clear(&f);

    /* A server that never reads: past what the agent buffers, the host's
     * flood ends the connection with a limit error. */
    s = listener(&port);
    connect_req(&ch, 4, port, 4096);
    static uint8_t chunk[PROTO_CHUNK];
    int64_t code = 0;
    for (int i = 0; i < 4096 && !code; i++) {
        send_frame(&ch, proto_header_new(PROTO_DATA, 4), chunk, sizeof(chunk));
        /* Drain what came (acks), without waiting. */
        pyro_error err = {0};
        while (proto_reader_next(&ch.rd, &f, &err) > 0) {
            if (f.id == 4 && f.type == PROTO_RESP)
                code = json_get_int(json_object_get(f.hdr, "error"), "code", 0);
            proto_frame_clear(&f);
        }
        struct timeval tv = {0, 0};
        fd_set rf;
        FD_ZERO(&rf);
        FD_SET(ch.fd, &rf);
        if (select(ch.fd + 1, &rf, NULL, NULL, &tv) > 0)
            assert_true(proto_reader_fill(&ch.rd, ch.fd) > 0);
    }
    assert_int_equal(code, -PYRO_E_LIMIT);
    close(s);

    close(ch.fd);
    proto_reader_free(&ch.rd);
    assert_int_equal(waitpid(agent, &st, 0), agent);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_portfwd)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
