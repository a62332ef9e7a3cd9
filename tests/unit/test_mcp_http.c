/* The MCP HTTP transport's security pieces without a server: connection
 * caps and deadlines (http_conn.c, on real sockets: an evicted
 * connection's peer sees the end of the stream), the bearer token file
 * (http_auth.c) and the body budget (http_request.c). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/paths.h"
#include "mcp/http.h"

struct pair {
    int ours, peer;
};

static struct pair pair_new(void)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    return (struct pair){sv[0], sv[1]};
}

/* Whether the server side was shut down: the peer reads end of stream. */
static bool shut(const struct pair *p)
{
    char c;
    ssize_t n = recv(p->peer, &c, 1, MSG_DONTWAIT);
    return n == 0;
}

static struct sockaddr_in addr4(unsigned last)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(40000 + last))};
    a.sin_addr.s_addr = htonl(0x7f000000u | last);
    return a;
}

static void test_unauth_cap_per_address(void **state)
{
    (void)state;
    struct http_conns cs;
    http_conns_init(&cs);
    struct pair p[HTTP_MAX_UNAUTH_PER_ADDRESS + 3];
    struct http_conn *c[HTTP_MAX_UNAUTH_PER_ADDRESS + 3];
    struct sockaddr_in a = addr4(1);
    /* The first one authenticates: it never counts against the cap. */
    for (int i = 0; i < HTTP_MAX_UNAUTH_PER_ADDRESS + 3; i++) {
        p[i] = pair_new();
        a.sin_port = htons((uint16_t)(1000 + i)); /* the port does not matter */
        c[i] = http_conn_open(&cs, p[i].ours, (struct sockaddr *)&a, 1000);
        if (i == 0)
            http_conn_authenticated(&cs, c[0]);
    }
    /* Nothing is closed before the transport's sweep, nor during the grace
     * period: a client gets that long to send its headers. */
    assert_int_equal(http_conns_sweep(&cs, 1000 + HTTP_UNAUTH_GRACE_MS - 1), 50); /* over: look again soon */
    for (int i = 0; i < HTTP_MAX_UNAUTH_PER_ADDRESS + 3; i++)
        assert_false(shut(&p[i]));
    assert_int_equal(http_conns_sweep(&cs, 1000 + HTTP_UNAUTH_GRACE_MS), HTTP_HEADER_TIMEOUT_MS - HTTP_UNAUTH_GRACE_MS);
    /* One more than the cap unauthenticated from one address, plus one:
     * the two oldest of them went. */
    assert_false(shut(&p[0]));
    assert_true(shut(&p[1]));
    assert_true(shut(&p[2]));
    for (int i = 3; i < HTTP_MAX_UNAUTH_PER_ADDRESS + 3; i++)
        assert_false(shut(&p[i]));
    assert_int_equal(cs.unauth, HTTP_MAX_UNAUTH_PER_ADDRESS);
    assert_int_equal(cs.count, HTTP_MAX_UNAUTH_PER_ADDRESS + 3);
    /* Another address is not affected. */
    struct sockaddr_in b = addr4(2);
    struct pair q = pair_new();
    struct http_conn *cq = http_conn_open(&cs, q.ours, (struct sockaddr *)&b, 1000);
    http_conns_sweep(&cs, 1000 + HTTP_UNAUTH_GRACE_MS);
    assert_false(shut(&q));
    assert_int_equal(cs.unauth, HTTP_MAX_UNAUTH_PER_ADDRESS + 1);
    http_conn_close(&cs, cq);
    for (int i = 0; i < HTTP_MAX_UNAUTH_PER_ADDRESS + 3; i++)
        http_conn_close(&cs, c[i]);
    assert_int_equal(cs.count, 0);
    assert_int_equal(cs.unauth, 0);
    assert_null(cs.head);
    for (int i = 0; i < HTTP_MAX_UNAUTH_PER_ADDRESS + 3; i++) {
        close(p[i].ours);
        close(p[i].peer);
    }
    close(q.ours);
    close(q.peer);
}

static void test_unauth_cap_total(void **state)
{
    (void)state;
    struct http_conns cs;
    http_conns_init(&cs);
    enum { N = HTTP_MAX_UNAUTH + 5 };
    struct pair p[N];
    struct http_conn *c[N];
    for (int i = 0; i < N; i++) {
        p[i] = pair_new();
        struct sockaddr_in a = addr4(10u + (unsigned)i); /* one each: no per-address cap */
        c[i] = http_conn_open(&cs, p[i].ours, (struct sockaddr *)&a, 1000 + i);
    }
    assert_int_equal(http_conns_sweep(&cs, 1000 + N), 50); /* all in their grace period */
    for (int i = 0; i < N; i++)
        assert_false(shut(&p[i]));
    /* The first 3 are past it: they go, and the next 2 when theirs ends. */
    assert_int_equal(http_conns_sweep(&cs, 1002 + HTTP_UNAUTH_GRACE_MS), 50);
    assert_int_equal(cs.unauth, HTTP_MAX_UNAUTH + 2);
    http_conns_sweep(&cs, 1000 + N + HTTP_UNAUTH_GRACE_MS);
    for (int i = 0; i < N; i++)
        assert_int_equal(shut(&p[i]), i < 5);
    assert_int_equal(cs.unauth, HTTP_MAX_UNAUTH);
    assert_int_equal(cs.evictions, 5);
    for (int i = 0; i < N; i++) {
        http_conn_close(&cs, c[i]);
        close(p[i].ours);
        close(p[i].peer);
    }
    assert_int_equal(cs.unauth, 0);
}

static void test_deadlines(void **state)
{
    (void)state;
    struct http_conns cs;
    http_conns_init(&cs);
    struct sockaddr_in a = addr4(1);
    struct pair hp = pair_new(), bp = pair_new(), wp = pair_new();
    struct http_conn *h = http_conn_open(&cs, hp.ours, (struct sockaddr *)&a, 0);
    struct http_conn *b = http_conn_open(&cs, bp.ours, (struct sockaddr *)&a, 0);
    struct http_conn *w = http_conn_open(&cs, wp.ours, (struct sockaddr *)&a, 0);
    http_conn_authenticated(&cs, b);
    http_conn_phase(b, CONN_BODY, 1000);
    http_conn_authenticated(&cs, w);
    http_conn_phase(w, CONN_BUSY, 1000); /* waiting for a call: no deadline */
    assert_int_equal(http_conns_sweep(&cs, 1000), HTTP_HEADER_TIMEOUT_MS - 1000);
    assert_false(shut(&hp));
    assert_int_equal(http_conns_sweep(&cs, HTTP_HEADER_TIMEOUT_MS),
                     HTTP_BODY_TIMEOUT_MS + 1000 - HTTP_HEADER_TIMEOUT_MS);
    assert_true(shut(&hp));
    assert_false(shut(&bp));
    assert_int_equal(cs.timeouts, 1);
    assert_int_equal(http_conns_sweep(&cs, 1000 + HTTP_BODY_TIMEOUT_MS), -1);
    assert_true(shut(&bp));
    assert_false(shut(&wp));
    /* The next request on a kept-alive connection has its own deadline. */
    http_conn_phase(w, CONN_HEADERS, 500000);
    assert_int_equal(http_conns_sweep(&cs, 500000 + HTTP_HEADER_TIMEOUT_MS - 1), 1);
    assert_false(shut(&wp));
    http_conns_sweep(&cs, 500000 + HTTP_HEADER_TIMEOUT_MS);
    assert_true(shut(&wp));
    http_conn_close(&cs, h);
    http_conn_close(&cs, b);
    http_conn_close(&cs, w);
    struct pair all[] = {hp, bp, wp};
    for (size_t i = 0; i < 3; i++) {
        close(all[i].ours);
        close(all[i].peer);
    }
}

static char *tmpdir_new(void)
{
    char *d = strdup("/tmp/pyro-test-http.XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void test_token_file(void **state)
{
    (void)state;
    char *d = tmpdir_new();
    char path[256];
    snprintf(path, sizeof(path), "%s/token", d);
    struct http_auth a = {0};
    pyro_error err = {0};

    write_file(path, "0123456789abcdef-token\n", 0644);
    assert_int_equal(http_auth_load(&a, path, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "chmod 600"));
    write_file(path, "0123456789abcdef-token\n", 0640);
    assert_int_equal(http_auth_load(&a, path, &err), -PYRO_E_INVALID);
    write_file(path, "short\n", 0600);
    assert_int_equal(http_auth_load(&a, path, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "at least 16"));
    write_file(path, "0123456789 abcdef\n", 0600);
    assert_int_equal(http_auth_load(&a, path, &err), -PYRO_E_INVALID);
    char *huge = malloc(5000);
    memset(huge, 'x', 4999);
    huge[4999] = '\0';
    write_file(path, huge, 0600);
    assert_int_equal(http_auth_load(&a, path, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "longer than"));
    free(huge);
    assert_int_equal(http_auth_load(&a, d, &err), -PYRO_E_INVALID); /* a directory */

    write_file(path, "0123456789abcdef-token\r\nsecond line\n", 0600);
    assert_int_equal(http_auth_load(&a, path, &err), 0);
    assert_null(a.generated);
    assert_true(http_auth_bearer_ok(a.digest, "Bearer 0123456789abcdef-token"));
    assert_true(http_auth_bearer_ok(a.digest, "bearer   0123456789abcdef-token "));
    assert_false(http_auth_bearer_ok(a.digest, "Bearer 0123456789abcdef-toke"));
    assert_false(http_auth_bearer_ok(a.digest, "Bearer 0123456789abcdef-tokenn"));
    assert_false(http_auth_bearer_ok(a.digest, "Basic 0123456789abcdef-token"));
    assert_false(http_auth_bearer_ok(a.digest, "0123456789abcdef-token"));
    assert_false(http_auth_bearer_ok(a.digest, "Bearer "));
    assert_false(http_auth_bearer_ok(a.digest, NULL));
    http_auth_fini(&a);
    assert_int_equal(access(path, F_OK), 0); /* a given file stays */
    rm_rf(d, NULL);
    free(d);
}

static void test_token_generated(void **state)
{
    (void)state;
    char *d = tmpdir_new();
    struct http_auth a = {0}, b = {0};
    pyro_error err = {0};
    assert_int_equal(http_auth_generate(&a, d, &err), 0);
    assert_int_equal(http_auth_generate(&b, d, &err), 0);
    assert_non_null(a.generated);
    assert_string_not_equal(a.generated, b.generated);
    assert_memory_not_equal(a.digest, b.digest, SHA256_DIGEST_LEN);
    struct stat st;
    assert_int_equal(stat(a.generated, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/mcp", d);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0077, 0);
    /* The file holds the token the digest is of, and loads as a token file. */
    FILE *f = fopen(a.generated, "r");
    char tok[200] = "";
    assert_non_null(fgets(tok, sizeof(tok), f));
    fclose(f);
    tok[strcspn(tok, "\n")] = '\0';
    assert_int_equal(strlen(tok), 64);
    char auth[300];
    snprintf(auth, sizeof(auth), "Bearer %s", tok);
    assert_true(http_auth_bearer_ok(a.digest, auth));
    assert_false(http_auth_bearer_ok(b.digest, auth));
    struct http_auth c = {0};
    assert_int_equal(http_auth_load(&c, a.generated, &err), 0);
    assert_memory_equal(c.digest, a.digest, SHA256_DIGEST_LEN);
    char *path = strdup(a.generated);
    http_auth_fini(&a);
    http_auth_fini(&b);
    http_auth_fini(&c);
    assert_int_equal(access(path, F_OK), -1); /* removed at the end */
    free(path);
    rm_rf(d, NULL);
    free(d);
}

static void test_body_budget(void **state)
{
    (void)state;
    enum { LIMIT = 16384 };
    struct http_budget g = {.max = 20000};
    struct http_verdict v = {.has_length = true, .length = 8000};
    struct http_body a, b, c;
    assert_int_equal(http_body_begin(&a, &g, &v, LIMIT), 0);
    assert_int_equal(g.used, 8000);
    assert_null(a.data); /* reserved, not yet allocated */
    v.length = 12001;
    assert_int_equal(http_body_begin(&b, &g, &v, LIMIT), -EBUSY);
    http_body_release(&b, &g);
    assert_int_equal(g.used, 8000);
    v.length = LIMIT + 1;
    assert_int_equal(http_body_begin(&b, &g, &v, LIMIT), -E2BIG);
    http_body_release(&b, &g);
    assert_int_equal(g.used, 8000);
    /* chunked: room is reserved as the buffer doubles, never past the
     * budget or the limit */
    static char buf[LIMIT];
    memset(buf, 'x', sizeof(buf));
    struct http_verdict chunked = {0};
    assert_int_equal(http_body_begin(&c, &g, &chunked, LIMIT), 0);
    assert_int_equal(http_body_append(&c, &g, buf, 3000), 0);
    assert_int_equal(c.reserved, 4095);
    assert_int_equal(http_body_append(&c, &g, buf, 2000), 0);
    assert_int_equal(c.reserved, 8191);
    assert_int_equal(g.used, 8000 + 8191);
    assert_int_equal(http_body_append(&c, &g, buf, 4000), -EBUSY); /* 16383 would not fit */
    assert_int_equal(c.len, 5000);
    /* the declared one takes exactly its length */
    assert_int_equal(http_body_append(&a, &g, buf, 7000), 0);
    assert_int_equal(http_body_append(&a, &g, buf, 1000), 0);
    assert_int_equal(http_body_append(&a, &g, buf, 1), -E2BIG);
    assert_int_equal(a.len, 8000);
    assert_true(a.cap <= 8001);
    http_body_release(&a, &g);
    assert_int_equal(g.used, 8191);
    assert_int_equal(http_body_append(&c, &g, buf, 4000), 0);
    assert_int_equal(http_body_append(&c, &g, buf, LIMIT - 9000), 0);
    assert_int_equal(c.len, LIMIT);
    assert_int_equal(http_body_append(&c, &g, buf, 1), -E2BIG);
    assert_int_equal(g.used, LIMIT);
    assert_int_equal(c.data[LIMIT], '\0');
    http_body_release(&c, &g);
    assert_int_equal(g.used, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unauth_cap_per_address),
        cmocka_unit_test(test_unauth_cap_total),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_token_file),
        cmocka_unit_test(test_token_generated),
        cmocka_unit_test(test_body_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
