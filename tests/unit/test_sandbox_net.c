/* Egress of the namespace sandbox backend against a real Debian rootfs,
 * with the static probe as PID 1 (fixture: sandbox_fixture.c). Needs root to
 * build its "outside" network namespace (egress as an ordinary user is
 * checked by tests/integration/test_vm.sh); exits 77 without usable cgroups
 * or id ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/sandbox/sandbox.h"
#include "base/cleanup.h"
#include "base/id.h"
#include "base/paths.h"
#include "lib/contract/ctx.h"
#include "lib/env/env.h"
#include "sandbox_fixture.h"

static int listen_on(const char *addr, int *port)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    if (addr)
        assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(ls, 4), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return ls;
}

/* Accepts one connection, expects "ping\n", answers "pong\n"; returns the
 * peer's address in ip. */
static void serve_one(int ls, char ip[INET_ADDRSTRLEN])
{
    struct sockaddr_in peer;
    socklen_t pl = sizeof(peer);
    struct pollfd p = {.fd = ls, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 30000), 1);
    int c = accept4(ls, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
    assert_true(c >= 0);
    char buf[64] = "";
    assert_true(read(c, buf, sizeof(buf) - 1) > 0);
    assert_string_equal(buf, "ping\n");
    inet_ntop(AF_INET, &peer.sin_addr, ip, INET_ADDRSTRLEN);
    assert_int_equal(write(c, "pong\n", 5), 5);
    close(c);
}

static int sh(const char *cmd)
{
    return system(cmd);
}

/* Egress: the probe reaches a server in a separate "outside" network
 * namespace behind a second link, which sees the host's address there (the
 * masquerade rule did its job), and never a server on the host itself
 * through its gateway (the guard rules refuse it). */
static void test_network(void **state)
{
    if (geteuid() != 0) {
        print_message("skip: the outside network namespace of this test needs root\n");
        skip();
    }
    char ns[32], link[16], cmd[512], ext_host[32], ext_srv[32];
    unsigned n = (unsigned)getpid() % 250 + 1;
    snprintf(ns, sizeof(ns), "pyro-test-ext%u", n);
    snprintf(link, sizeof(link), "pyrotx%u", n);
    snprintf(ext_host, sizeof(ext_host), "198.18.%u.1", n);
    snprintf(ext_srv, sizeof(ext_srv), "198.18.%u.2", n);
    snprintf(cmd, sizeof(cmd),
             "ip netns add %s && ip link add %s type veth peer name ext0 netns %s && "
             "ip addr add %s/30 dev %s && ip link set %s up && ip -n %s addr add %s/30 dev ext0 && "
             "ip -n %s link set ext0 up && ip -n %s link set lo up",
             ns, link, ns, ext_host, link, link, ns, ext_srv, ns, ns);
    snprintf(teardown_cmd, sizeof(teardown_cmd), "ip link del %s 2>/dev/null; ip netns del %s 2>/dev/null", link, ns);
    if (sh(cmd) != 0)
        fail_msg("setting up the outside namespace failed: %s", cmd);
    /* The outside server's socket is made inside that namespace. */
    char nspath[64];
    snprintf(nspath, sizeof(nspath), "/run/netns/%s", ns);
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), other = open(nspath, O_RDONLY | O_CLOEXEC);
    assert_true(self >= 0 && other >= 0);
    assert_int_equal(setns(other, CLONE_NEWNET), 0);
    int p2, ls2 = listen_on(ext_srv, &p2);
    assert_int_equal(setns(self, CLONE_NEWNET), 0);
    close(self);
    close(other);

    int p1, ls1 = listen_on(NULL, &p1);
    char c1[64], c2[64];
    snprintf(c1, sizeof(c1), "connect:gw:%d", p1);
    snprintf(c2, sizeof(c2), "connect:%s:%d", ext_srv, p2);
    char *argv[] = {"/.pyro/agent", "info", c1, c2, "read:/etc/resolv.conf", "sleep", NULL};
    struct run r;
    pyro_error err = {0};
    run_init(&r, "net", true, argv);
    if (run_start(&r, &err) < 0)
        fail_msg("sandbox_start: %s", err.message);
    assert_true(if_nametoindex(r.inst.host_ifname) != 0);
    assert_true(nft_has_rule(r.id));

    char ip[INET_ADDRSTRLEN];
    serve_one(ls2, ip);
    assert_string_equal(ip, ext_host); /* masqueraded */
    close(ls2);

    run_read(&r, "ready=1", 30000);
    assert_kv(&r, "ifaces", "eth0,lo");
    /* Refused with "administratively prohibited": EHOSTUNREACH. */
    char refused[16];
    snprintf(refused, sizeof(refused), "-%d", EHOSTUNREACH);
    assert_kv(&r, c1, refused);
    assert_kv(&r, c2, "pong");
    /* And nothing reached the host's server. */
    struct pollfd pfd = {.fd = ls1, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 0), 0);
    close(ls1);
    /* 10.213.0.0/16, a /30: host .1, guest .2 */
    assert_int_equal(strncmp(r.inst.host_addr, "10.213.", 7), 0);
    assert_int_equal(r.inst.prefix_len, 30);
    assert_int_equal(strncmp(kv(&r, "read:/etc/resolv.conf"), "nameserver ", 11), 0);
    char ifname[IF_NAMESIZE];
    snprintf(ifname, sizeof(ifname), "%s", r.inst.host_ifname);
    run_finish(&r);
    sh(teardown_cmd);
    teardown_cmd[0] = '\0';
    assert_int_equal(if_nametoindex(ifname), 0);
    assert_gone(r.dir, r.id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_network, teardown),
    };
    return sandbox_fixture_main(tests, ARRAY_SIZE(tests));
}
