/* The egress guard of an ordinary user's instance (usernet.c; a sandbox, or
 * the QEMU of a VM, whose user-mode network opens its sockets there).
 *
 * pasta connects out with the user's own sockets on the host, where a user
 * can filter nothing; so the guard lives inside the instance's network
 * namespace, on the way into pasta: nftables rules in the output hook of
 * `table inet pyro_guard` there, which refuse (ICMP "administratively
 * prohibited", EHOSTUNREACH to the caller) everything but lo that goes to
 *   - every IPv4 address the host has when the instance starts, and the
 *     instance's gateway (pasta would reach the host through them);
 *   - link-local 169.254.0.0/16 (cloud metadata services);
 *   - "this network" 0.0.0.0/8 (0.0.0.0 is the host's own loopback to
 *     pasta's sockets), loopback 127.0.0.0/8, root's sandbox pool
 *     10.213.0.0/16 (other sandboxes, routed on the host), multicast and
 *     broadcast;
 *   - IPv6, all of it (pasta runs IPv4 only);
 * except DNS (TCP and UDP port 53) to the resolvers of the instance's
 * resolv.conf. With PYRO_EGRESS_ALLOW_HOST=1 the host's addresses, the
 * gateway and link-local are allowed; the rest stays refused.
 *
 * The rules are loaded by a helper that joins the instance's user and network
 * namespaces (the user owns the user namespace, so it has CAP_NET_ADMIN
 * there) and runs nft with CAP_NET_ADMIN as an ambient capability. The
 * sandbox's root has no CAP_NET_ADMIN (Docker's default set) and QEMU no
 * capability at all, so neither can remove them; neither has CAP_NET_RAW
 * (a sandbox's plan.no_net_raw): packet and raw sockets would pass an
 * output hook. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/hostcmd.h"
#include "backend/usernet.h"
#include "base/cleanup.h"

#define GUARD_MAX 256 /* addresses in one set */

/* Always refused. */
static const char *const deny_always[] = {"0.0.0.0/8", "127.0.0.0/8", "10.213.0.0/16", "224.0.0.0/4",
                                          "255.255.255.255"};
/* Refused unless the operator allows the host. */
static const char *const deny_host[] = {"169.254.0.0/16", USERNET_GATEWAY};

struct prefix_set {
    uint32_t addr[GUARD_MAX]; /* host order */
    uint32_t mask[GUARD_MAX];
    int n;
};

/* Adds a/len unless an element already covers it (nft refuses overlapping
 * intervals in one set). */
static void set_add(struct prefix_set *s, uint32_t a, int len)
{
    uint32_t m = len ? 0xffffffffu << (32 - len) : 0;
    for (int i = 0; i < s->n; i++)
        if ((a & s->mask[i]) == s->addr[i] && s->mask[i] <= m)
            return;
    if (s->n < GUARD_MAX)
        s->addr[s->n] = a & m, s->mask[s->n] = m, s->n++;
}

static void set_add_text(struct prefix_set *s, const char *text)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%s", text);
    char *slash = strchr(buf, '/');
    int len = slash ? atoi(slash + 1) : 32;
    if (slash)
        *slash = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, buf, &a) == 1 && len >= 0 && len <= 32)
        set_add(s, ntohl(a.s_addr), len);
}

/* "{ a, b/n, ... }" of s into out. */
static void set_text(const struct prefix_set *s, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "{ ");
    for (int i = 0; i < s->n && used < size; i++) {
        struct in_addr a = {htonl(s->addr[i])};
        int len = __builtin_popcount(s->mask[i]);
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a, text, sizeof(text));
        used += (size_t)(len == 32 ? snprintf(out + used, size - used, "%s%s", i ? ", " : "", text)
                                   : snprintf(out + used, size - used, "%s%s/%d", i ? ", " : "", text, len));
    }
    if (used < size)
        snprintf(out + used, size - used, " }");
}

/* The resolvers of dir/resolv.conf (written by netguard_resolv). */
static void resolvers(const char *dir, struct prefix_set *s)
{
    _cleanup_free_ char *path = xasprintf("%s/resolv.conf", dir);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    char line[256], addr[64];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "nameserver %63s", addr) == 1)
            set_add_text(s, addr);
}

/* Writes the ruleset for dir into dir/guard.nft. */
static int ruleset_write(const char *dir, bool allow_host, pyro_error *err)
{
    struct prefix_set deny = {0}, dns = {0};
    for (size_t i = 0; i < ARRAY_SIZE(deny_always); i++)
        set_add_text(&deny, deny_always[i]);
    if (!allow_host) {
        for (size_t i = 0; i < ARRAY_SIZE(deny_host); i++)
            set_add_text(&deny, deny_host[i]);
        struct ifaddrs *ifs = NULL;
        if (getifaddrs(&ifs) < 0)
            return err_errno(err, errno, "list the host's addresses");
        for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
            if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET)
                set_add(&deny, ntohl(((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr.s_addr), 32);
        freeifaddrs(ifs);
        if (deny.n == GUARD_MAX)
            return err_set(err, -PYRO_E_LIMIT, "the host has more than %d addresses to guard", GUARD_MAX);
    }
    resolvers(dir, &dns);
    char denytext[GUARD_MAX * 20], dnstext[GUARD_MAX * 20] = "";
    set_text(&deny, denytext, sizeof(denytext));
    if (dns.n)
        set_text(&dns, dnstext, sizeof(dnstext));
    _cleanup_free_ char *path = xasprintf("%s/" USERNET_GUARD_FILE, dir);
    _cleanup_fclose_ FILE *f = fopen(path, "we");
    if (!f)
        return err_errno(err, errno, "write %s", path);
    fprintf(f, "table inet pyro_guard {\n"
               "\tchain output {\n"
               "\t\ttype filter hook output priority filter - 10; policy accept;\n"
               "\t\toifname \"lo\" accept\n"
               "\t\tmeta nfproto ipv6 reject with icmpx admin-prohibited\n");
    if (dns.n)
        fprintf(f, "\t\tip daddr %s meta l4proto { tcp, udp } th dport 53 accept\n", dnstext);
    fprintf(f,
            "\t\tip daddr %s reject with icmpx admin-prohibited\n"
            "\t}\n"
            "}\n",
            denytext);
    if (fflush(f) != 0 || ferror(f))
        return err_errno(err, errno, "write %s", path);
    return 0;
}

/* CAP_NET_ADMIN (permitted here, in the instance's user namespace) as an
 * ambient capability, so that nft keeps it across exec. */
static int ambient_net_admin(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0)
        return -1;
    d[CAP_TO_INDEX(CAP_NET_ADMIN)].inheritable |= CAP_TO_MASK(CAP_NET_ADMIN);
    if (syscall(SYS_capset, &h, d) < 0)
        return -1;
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0);
}

/* The helper: joins the namespaces, runs nft -f FILE; its error goes to
 * shared memory. */
static void helper(int userns_fd, int netns_fd, const char *file, pyro_error *shared)
{
    int r;
    const char *nft = hostcmd_find("nft");
    if (setns(userns_fd, CLONE_NEWUSER) < 0)
        r = err_errno(shared, errno, "join the instance's user namespace");
    else if (setns(netns_fd, CLONE_NEWNET) < 0)
        r = err_errno(shared, errno, "join the instance's network namespace");
    else if (ambient_net_admin() < 0)
        r = err_errno(shared, errno, "raise CAP_NET_ADMIN for nft");
    else if (!nft)
        r = err_set(shared, -PYRO_E_UNSUPPORTED, "nft(8) not found: apt-get install nftables");
    else {
        char *argv[] = {(char *)nft, "-f", (char *)file, NULL};
        r = hostcmd_run(argv, NULL, shared);
    }
    _exit(r < 0 ? 1 : 0);
}

int usernet_guard_install(const char *dir, int userns_fd, int netns_fd, bool allow_host, pyro_error *err)
{
    int r = ruleset_write(dir, allow_host, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *file = xasprintf("%s/" USERNET_GUARD_FILE, dir);
    (void)hostcmd_find("nft"); /* resolved before the fork, once */
    pyro_error *se = mmap(NULL, sizeof(*se), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (se == MAP_FAILED)
        return err_errno(err, errno, "mmap");
    *se = (pyro_error){.code = -EIO};
    pid_t pid = fork();
    if (pid == 0)
        helper(userns_fd, netns_fd, file, se);
    int st = 0;
    if (pid < 0)
        r = err_errno(err, errno, "fork");
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        r = WIFEXITED(st) && WEXITSTATUS(st) == 1
                ? err_set(err, se->code < 0 ? se->code : -EIO, "%s", se->message)
                : err_set(err, -EIO, "the guard helper failed (%s %d)", WIFEXITED(st) ? "exit status" : "signal",
                          WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    munmap(se, sizeof(*se));
    return r < 0 ? err_prefix(err, "install the egress guard in the instance's network namespace") : 0;
}
