/* Egress of the namespace sandbox backend, with the static probe as PID 1
 * (fixture: sandbox_fixture.c).
 *
 * As root: veth + NAT against a real Debian rootfs (test_network); then an
 * ordinary user's egress through pasta, hostile: the test builds an
 * "outside" host (a network namespace behind its own link, which also
 * answers on 169.254.169.254, routed from the host) and runs the user
 * group in a child that became the user pyro-test ($PYRO_TEST_USER). Where
 * /dev/net/tun is not open to users (Debian's udev makes it 0666; this
 * build machine has no udev), that child gets a 0666 node in a private
 * mount namespace, as a stock host has it.
 * As an ordinary user: only the user group, without the outside host; the
 * host's own address under PYRO_EGRESS_ALLOW_HOST's opt-in shows that
 * egress works.
 * Skips (77) name what is missing: root for the root group, the user, its
 * subordinate ids, pasta, nft or /dev/net/tun for the user group. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/sandbox/sandbox.h"
#include "base/cleanup.h"
#include "base/id.h"
#include "base/idmap.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/proc.h"
#include "base/record.h"
#include "base/spawn_capture.h"
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

/* ---- an ordinary user's egress through pasta ---------------------------- */

/* The outside host of the user group (root only): a server on ext_srv and
 * one on 169.254.169.254, both in their own network namespace. */
static struct {
    bool present;
    char ns[32], link[16], ext_host[32], ext_srv[32];
    int srv_ls, srv_port, meta_ls, meta_port;
} outside = {.srv_ls = -1, .meta_ls = -1};

static char host_ip[INET_ADDRSTRLEN]; /* the host's first address off loopback */
static int host_ls = -1, host_port;   /* a server on all the host's addresses */
static int lo_ls = -1, lo_port;       /* a server on the host's 127.0.0.1 */

/* Refused with "administratively prohibited" by the guard: EHOSTUNREACH. */
static const char *refused(void)
{
    static char text[16];
    snprintf(text, sizeof(text), "-%d", EHOSTUNREACH);
    return text;
}

static void assert_no_client(int ls)
{
    struct pollfd p = {.fd = ls, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
}

/* pasta's pid and start time from the sandbox's state file. */
static void pasta_of(const struct run *r, pid_t *pid, int64_t *start)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/sandbox.json", r->dir);
    json_t *rec = NULL;
    pyro_error err = {0};
    if (record_load(path, &rec, &err) < 0)
        fail_msg("%s", err.message);
    assert_true(json_get_bool(rec, "user_net", false));
    *pid = (pid_t)json_get_int(rec, "pasta_pid", 0);
    *start = json_get_int(rec, "pasta_start", 0);
    json_decref(rec);
    assert_true(*pid > 0);
}

/* The hostile part: from inside, the host (its address, its gateway, its
 * loopback), link-local and raw sockets are out of reach; the outside host
 * (root only) is reached, through pasta's own sockets; the addresses
 * reported are those inside; pasta goes with the sandbox. */
static void test_user_egress(void **state)
{
    char c_out[64] = "", c_host[64], c_gw[64], c_lo[64], c_meta[64];
    snprintf(c_host, sizeof(c_host), "connect:%s:%d", host_ip, host_port);
    snprintf(c_gw, sizeof(c_gw), "connect:gw:%d", host_port);
    snprintf(c_lo, sizeof(c_lo), "connect:127.0.0.1:%d", lo_port);
    snprintf(c_meta, sizeof(c_meta), "connect:169.254.169.254:%d", outside.present ? outside.meta_port : 80);
    if (outside.present)
        snprintf(c_out, sizeof(c_out), "connect:%s:%d", outside.ext_srv, outside.srv_port);
    char *argv[] = {"/.pyro/agent", outside.present ? c_out : "info", "info",  "rawnet", c_host, c_gw, c_lo,
                    c_meta,         "read:/etc/resolv.conf",          "sleep", NULL};
    struct run r;
    pyro_error err = {0};
    run_init(&r, "unet", true, argv);
    if (run_start(&r, &err) < 0)
        fail_msg("sandbox_start: %s", err.message);
    /* The addresses reported are those inside: no host interface. */
    assert_string_equal(r.inst.host_ifname, "");
    assert_string_equal(r.inst.guest_addr, "10.0.2.100");
    assert_string_equal(r.inst.host_addr, "10.0.2.2");
    assert_int_equal(r.inst.prefix_len, 24);
    pid_t pasta;
    int64_t pasta_start;
    pasta_of(&r, &pasta, &pasta_start);
    assert_true(proc_alive(pasta, pasta_start));
    if (outside.present) {
        char ip[INET_ADDRSTRLEN];
        serve_one(outside.srv_ls, ip);
        assert_string_equal(ip, outside.ext_host); /* pasta's socket on the host */
    }
    run_read(&r, "ready=1", 30000);
    assert_kv(&r, "ifaces", "eth0,lo");
    if (outside.present)
        assert_kv(&r, c_out, "pong");
    assert_kv(&r, c_host, refused());
    assert_kv(&r, c_gw, refused());
    assert_kv(&r, c_meta, refused());
    char lo_refused[16];
    snprintf(lo_refused, sizeof(lo_refused), "-%d", ECONNREFUSED);
    assert_kv(&r, c_lo, lo_refused); /* the sandbox's own loopback */
    assert_no_client(host_ls);
    assert_no_client(lo_ls);
    if (outside.present)
        assert_no_client(outside.meta_ls);
    /* No CAP_NET_RAW (a packet socket would pass the guard), no
     * CAP_NET_ADMIN (the guard cannot be undone). */
    assert_kv(&r, "rawnet_packet", "1");
    assert_kv(&r, "rawnet_raw", "1");
    assert_kv(&r, "rawnet_ifdown", "1");
    unsigned long long eff = strtoull(kv(&r, "CapEff"), NULL, 16);
    assert_true(eff != 0 && !(eff & (1ull << 13)) && !(eff & (1ull << 12))); /* NET_RAW, NET_ADMIN */
    if (strncmp(kv(&r, "read:/etc/resolv.conf"), "nameserver ", 11) != 0 &&
        strncmp(kv(&r, "read:/etc/resolv.conf"), "-", 1) != 0)
        fail_msg("resolv.conf: %s", kv(&r, "read:/etc/resolv.conf"));
    run_finish(&r);
    assert_false(proc_alive(pasta, pasta_start)); /* destroy killed it */
    assert_gone(r.dir, r.id);
}

/* PYRO_EGRESS_ALLOW_HOST=1: the host's own address and link-local are
 * reached (egress works, through pasta's sockets on the host). */
static void test_user_allow_host(void **state)
{
    char c_host[64], c_meta[64];
    snprintf(c_host, sizeof(c_host), "connect:%s:%d", host_ip, host_port);
    snprintf(c_meta, sizeof(c_meta), "connect:169.254.169.254:%d", outside.meta_port);
    char *argv[] = {"/.pyro/agent", c_host, outside.present ? c_meta : "sleep", "sleep", NULL};
    struct run r;
    pyro_error err = {0};
    run_init(&r, "uall", true, argv);
    r.cfg.network_allow_host = true;
    if (run_start(&r, &err) < 0)
        fail_msg("sandbox_start: %s", err.message);
    char ip[INET_ADDRSTRLEN];
    serve_one(host_ls, ip);
    assert_string_equal(ip, host_ip);
    if (outside.present) {
        serve_one(outside.meta_ls, ip);
        assert_string_equal(ip, outside.ext_host);
    }
    run_read(&r, "ready=1", 30000);
    assert_kv(&r, c_host, "pong");
    if (outside.present)
        assert_kv(&r, c_meta, "pong");
    run_finish(&r);
    assert_gone(r.dir, r.id);
}

/* Without pasta: a clear error naming the package, and nothing created. */
static void test_user_no_pasta(void **state)
{
    char *path = xstrdup(getenv("PATH"));
    setenv("PATH", "/nonexistent-pyro-test", 1);
    char *argv[] = {"/.pyro/agent", "sleep", NULL};
    struct run r;
    pyro_error err = {0};
    run_init(&r, "unop", true, argv);
    int rc = run_start(&r, &err);
    setenv("PATH", path, 1);
    free(path);
    assert_int_equal(rc, -PYRO_E_UNSUPPORTED);
    if (!strstr(err.message, "apt-get install passt"))
        fail_msg("the error does not name the package: %s", err.message);
    assert_int_equal(access(r.dir, F_OK), -1);
    close(r.chan);
    live_drop(r.id);
}

struct rootfs_fds {
    int fds[2];
};

static int rootfs_own(void *arg, pyro_error *err)
{
    const struct rootfs_fds *f = arg;
    for (int i = 0; i < 2; i++)
        if (fchownat(f->fds[i], "", fixture_idmap.view_uid_base, fixture_idmap.view_gid_base, AT_EMPTY_PATH) < 0)
            return err_errno(err, errno, "chown the test rootfs");
    return 0;
}

/* The smallest root the static probe needs (/ and /etc), owned by the
 * range's root as an environment's tree is. */
static char *rootfs_tiny(void)
{
    char *root = xasprintf("%s/rootfs", workdir), *etc = xasprintf("%s/etc", root);
    if (mkdir(root, 0755) < 0 || mkdir(etc, 0755) < 0)
        return NULL;
    struct rootfs_fds f = {{open(root, O_PATH | O_CLOEXEC), open(etc, O_PATH | O_CLOEXEC)}};
    pyro_error err = {0};
    int r = f.fds[0] < 0 || f.fds[1] < 0 ? -EIO : idmap_run(&fixture_idmap, rootfs_own, &f, &err);
    close(f.fds[0]);
    close(f.fds[1]);
    free(etc);
    if (r < 0) {
        fprintf(stderr, "test rootfs: %s\n", err.message);
        free(root);
        return NULL;
    }
    return root;
}

static bool host_ip_find(void)
{
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) < 0)
        return false;
    for (struct ifaddrs *i = ifs; i && !host_ip[0]; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)i->ifa_addr;
        if ((ntohl(a->sin_addr.s_addr) >> 24) != 127)
            inet_ntop(AF_INET, &a->sin_addr, host_ip, sizeof(host_ip));
    }
    freeifaddrs(ifs);
    return host_ip[0] != '\0';
}

/* The user group, as the current (ordinary) user. */
static int user_group(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_user_no_pasta, teardown),
        cmocka_unit_test_teardown(test_user_egress, teardown),
        cmocka_unit_test_teardown(test_user_allow_host, teardown),
    };
    pyro_error err = {0};
    char *bin = NULL;
    if (idmap_resolve(&fixture_idmap, &err) < 0) {
        fprintf(stderr, "skip: %s\n", err.message);
        return 77;
    }
    if (proc_find_program("pasta", &bin, NULL) < 0) {
        fprintf(stderr, "skip: pasta is not installed (apt-get install passt)\n");
        return 77;
    }
    free(bin);
    bin = NULL;
    if (access("/usr/sbin/nft", X_OK) < 0 && proc_find_program("nft", &bin, NULL) < 0) {
        fprintf(stderr, "skip: nft is not installed (apt-get install nftables)\n");
        return 77;
    }
    free(bin);
    if (access("/dev/net/tun", R_OK | W_OK) < 0) {
        fprintf(stderr, "skip: /dev/net/tun is not readable and writable by uid %d (Debian's udev makes it 0666)\n",
                (int)getuid());
        return 77;
    }
    if (!host_ip_find()) {
        fprintf(stderr, "skip: the host has no IPv4 address off loopback to test the guard with\n");
        return 77;
    }
    char tmpl[] = "/tmp/pyro-test-sandbox-user.XXXXXX";
    workdir = xstrdup(mkdtemp(tmpl));
    const char *build = getenv("PYRO_TEST_BUILD_DIR");
    probe = xasprintf("%s/tests/pyro-probe", build ? build : ".");
    rootfs = rootfs_tiny();
    if (!rootfs) {
        fprintf(stderr, "could not build the test rootfs in %s\n", workdir);
        return 1;
    }
    host_ls = listen_on(NULL, &host_port);
    lo_ls = listen_on("127.0.0.1", &lo_port);
    fprintf(stderr, "as uid %d (subordinate ids %u..), host address %s, outside host %s\n", (int)getuid(),
            (unsigned)fixture_idmap.uid_base, host_ip, outside.present ? outside.ext_srv : "none (not root)");
    int rc = _cmocka_run_group_tests("sandbox_user_net", tests, ARRAY_SIZE(tests), NULL, NULL);
    (void)idmap_rm_rf(workdir, NULL);
    return rc;
}

/* Root: the outside host, then the user group in a child that became the
 * user. */
static int outside_setup(void)
{
    unsigned n = (unsigned)getpid() % 250 + 1;
    snprintf(outside.ns, sizeof(outside.ns), "pyro-test-uext%u", n);
    snprintf(outside.link, sizeof(outside.link), "pyroux%u", n);
    snprintf(outside.ext_host, sizeof(outside.ext_host), "198.18.%u.5", n);
    snprintf(outside.ext_srv, sizeof(outside.ext_srv), "198.18.%u.6", n);
    char cmd[768];
    snprintf(cmd, sizeof(cmd),
             "ip netns add %s && ip link add %s type veth peer name ext0 netns %s && "
             "ip addr add %s/30 dev %s && ip link set %s up && ip -n %s addr add %s/30 dev ext0 && "
             "ip -n %s addr add 169.254.169.254/32 dev ext0 && ip -n %s link set ext0 up && "
             "ip -n %s link set lo up && ip route add 169.254.169.254/32 via %s dev %s",
             outside.ns, outside.link, outside.ns, outside.ext_host, outside.link, outside.link, outside.ns,
             outside.ext_srv, outside.ns, outside.ns, outside.ns, outside.ext_srv, outside.link);
    if (sh(cmd) != 0) {
        fprintf(stderr, "setting up the outside namespace failed: %s\n", cmd);
        return -1;
    }
    char nspath[64];
    snprintf(nspath, sizeof(nspath), "/run/netns/%s", outside.ns);
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), other = open(nspath, O_RDONLY | O_CLOEXEC);
    if (self < 0 || other < 0 || setns(other, CLONE_NEWNET) < 0)
        return -1;
    outside.srv_ls = listen_on(outside.ext_srv, &outside.srv_port);
    outside.meta_ls = listen_on("169.254.169.254", &outside.meta_port);
    if (setns(self, CLONE_NEWNET) < 0)
        return -1;
    close(self);
    close(other);
    /* The host does reach 169.254.169.254 here: a refusal inside is the
     * guard's. */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)outside.meta_port)};
    inet_pton(AF_INET, "169.254.169.254", &sa.sin_addr);
    int c = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? accept4(outside.meta_ls, NULL, NULL, SOCK_CLOEXEC)
                                                                : -1;
    close(s);
    if (c < 0) {
        fprintf(stderr, "the host cannot reach 169.254.169.254 in the outside namespace\n");
        return -1;
    }
    close(c);
    outside.present = true;
    return 0;
}

static void outside_teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "ip route del 169.254.169.254/32 dev %s 2>/dev/null; ip link del %s 2>/dev/null; "
             "ip netns del %s 2>/dev/null",
             outside.link, outside.link, outside.ns);
    (void)!sh(cmd);
}

/* In the child, still root: a 0666 /dev/net/tun where the host's is not
 * open to users, in a private mount namespace; then the user's ids. */
static int become_user(const struct passwd *pw)
{
    struct stat st;
    bool closed = stat("/dev/net/tun", &st) == 0 && S_ISCHR(st.st_mode) && (st.st_mode & 0006) != 0006;
    if (closed && (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
                   mount("tmpfs", "/dev/net", "tmpfs", MS_NOSUID, "mode=755") < 0 ||
                   mknod("/dev/net/tun", S_IFCHR | 0666, st.st_rdev) < 0 || chmod("/dev/net/tun", 0666) < 0)) {
        perror("a private /dev/net/tun");
        return -1;
    }
    if (closed)
        fprintf(stderr,
                "note: /dev/net/tun is mode %04o here; the user group gets a 0666 one (as Debian's udev "
                "makes it) in a private mount namespace\n",
                (unsigned)(st.st_mode & 07777));
    if (setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
        setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
        perror("become the test user");
        return -1;
    }
    /* As a process the user started itself would be (setuid made this one
     * undumpable, which would keep pasta out of the sandbox's /proc). */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    setenv("HOME", pw->pw_dir, 1);
    setenv("USER", pw->pw_name, 1);
    return 0;
}

static int user_group_as_test_user(void)
{
    const char *name = getenv("PYRO_TEST_USER") ? getenv("PYRO_TEST_USER") : "pyro-test";
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        fprintf(stderr, "skip: user egress: no user %s (scripts/test-user.sh setup creates it)\n", name);
        return 77;
    }
    int rc = outside_setup() < 0 ? 1 : 0;
    pid_t pid = rc ? -1 : fork();
    if (pid == 0)
        _exit(become_user(pw) < 0 ? 1 : user_group());
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (pid > 0)
        rc = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    outside_teardown();
    return rc;
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skip: test_network (veth + NAT) needs root; the user group runs\n");
        return user_group();
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_network, teardown),
    };
    int rc = sandbox_fixture_main(tests, ARRAY_SIZE(tests));
    int urc = user_group_as_test_user();
    if (rc != 0 && rc != 77)
        return rc;
    if (urc != 0 && urc != 77)
        return urc;
    return rc == 77 && urc == 77 ? 77 : 0;
}
