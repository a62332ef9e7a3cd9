/* Host side of egress networking as root, for both backends: a veth pair
 * per instance (host end pyro-<hash>, inner end eth0 in the sandbox's
 * network namespace, or in the one a VM's QEMU runs its user-mode network
 * in), a /30 from 10.213.0.0/16 chosen from a hash of the id and probed
 * past addresses and routes already in use, IPv4 forwarding, one
 * masquerade rule per instance in nftables' `table ip pyro`, and guard
 * rules in `table inet pyro_guard` that keep the instance off the host
 * itself (every address of the host, the gateway included, except DNS to
 * the gateway), off link-local addresses (cloud metadata services), off
 * other instances, loopback and multicast, and off IPv6 altogether. Every
 * rule is tagged with the comment "pyro:<id>" so that it can be found and
 * deleted from the id alone.
 *
 * With an allow-list (dnsfilter.h) two sets join them, named from the same
 * hash as the link: pyro_c_<hash> (the list's CIDRs, fixed) and
 * pyro_d_<hash> (addresses the instance's DNS filter resolved, each with a
 * timeout), and the forward chain refuses the instance's port 53 to
 * anyone (its resolver is the filter, on the gateway) and everything not
 * in one of the sets. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/dnsfilter.h"
#include "backend/hostcmd.h"
#include "backend/netguard.h"
#include "base/cleanup.h"
#include "base/json.h"

#define NET_BASE 0x0AD50000u /* 10.213.0.0 */
#define NET_SLOTS 16384u     /* /30s in a /16 */
#define NET_LOCK_DIR "/run/pyro"
#define NET_LOCK NET_LOCK_DIR "/net.lock"
#define NFT_TABLE "pyro"
#define NFT_CHAIN "postrouting"
#define NFT_GUARD "pyro_guard"

/* Destinations a sandbox never reaches through forwarding: "this network",
 * loopback, link-local (metadata services at 169.254.169.254), the pool the
 * sandboxes themselves live in, multicast and broadcast. */
#define GUARD_FORWARD_DENY "{ 0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, 10.213.0.0/16, 224.0.0.0/4, 255.255.255.255 }"
/* The same with PYRO_EGRESS_ALLOW_HOST=1: link-local allowed. */
#define GUARD_FORWARD_DENY_ALLOW_HOST "{ 0.0.0.0/8, 127.0.0.0/8, 10.213.0.0/16, 224.0.0.0/4, 255.255.255.255 }"

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

void netguard_ifname(const char *id, char out[IF_NAMESIZE])
{
    snprintf(out, IF_NAMESIZE, "pyro-%010llx", (unsigned long long)(fnv1a(id) & 0xffffffffffull));
}

/* The names of the allow-list's sets: "pyro_c_" or "pyro_d_" and the hash. */
static void set_name(const char *id, char kind, char out[32])
{
    snprintf(out, 32, "pyro_%c_%010llx", kind, (unsigned long long)(fnv1a(id) & 0xffffffffffull));
}

static bool overlaps(uint32_t a, uint32_t amask, uint32_t b, uint32_t bmask)
{
    uint32_t m = amask & bmask; /* the shorter prefix */
    return (a & m) == (b & m);
}

/* True when the /30 at net is free: no local address and no route in it. */
static bool subnet_free(uint32_t net, struct ifaddrs *ifs)
{
    const uint32_t mask = 0xfffffffcu;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr.s_addr);
        if ((a & mask) == net)
            return false;
    }
    _cleanup_fclose_ FILE *f = fopen("/proc/net/route", "re");
    char line[512];
    if (!f)
        return true;
    while (fgets(line, sizeof(line), f)) {
        char ifn[64];
        unsigned dst, gw, flags, rmask;
        if (sscanf(line, "%63s %x %x %x %*d %*d %*d %x", ifn, &dst, &gw, &flags, &rmask) != 5)
            continue; /* the header */
        uint32_t d = ntohl(dst), m = ntohl(rmask);
        if (m != 0 && overlaps(d, m, net, mask))
            return false;
    }
    return true;
}

static int nft(pyro_error *err, char **out, const char *a1, const char *a2, const char *a3, const char *a4,
               const char *a5, const char *a6, const char *a7)
{
    const char *bin = hostcmd_find("nft");
    if (!bin)
        return err_set(err, -PYRO_E_UNSUPPORTED, "nft(8) not found: install nftables");
    char *argv[] = {(char *)bin, (char *)a1, (char *)a2, (char *)a3, (char *)a4,
                    (char *)a5,  (char *)a6, (char *)a7, NULL};
    return hostcmd_run(argv, out, err);
}

static int ip(pyro_error *err, const char *a1, const char *a2, const char *a3, const char *a4, const char *a5,
              const char *a6, const char *a7, const char *a8, const char *a9, const char *a10)
{
    const char *bin = hostcmd_find("ip");
    if (!bin)
        return err_set(err, -PYRO_E_UNSUPPORTED, "ip(8) not found: install iproute2");
    char *argv[] = {(char *)bin, (char *)a1, (char *)a2, (char *)a3, (char *)a4,  (char *)a5,
                    (char *)a6,  (char *)a7, (char *)a8, (char *)a9, (char *)a10, NULL};
    return hostcmd_run(argv, NULL, err);
}

static int enable_forwarding(pyro_error *err)
{
    _cleanup_close_ int fd = open("/proc/sys/net/ipv4/ip_forward", O_RDWR | O_CLOEXEC);
    char c = 0;
    if (fd < 0 || pread(fd, &c, 1, 0) != 1)
        return err_errno(err, errno, "read /proc/sys/net/ipv4/ip_forward");
    if (c == '1')
        return 0;
    if (pwrite(fd, "1", 1, 0) != 1)
        return err_errno(err, errno, "enable IPv4 forwarding");
    return 0;
}

static int nat_add(const char *id, uint32_t net, const char *ifname, pyro_error *err)
{
    int r = nft(err, NULL, "add", "table", "ip", NFT_TABLE, NULL, NULL, NULL);
    if (r < 0)
        return r;
    r = nft(err, NULL, "add", "chain", "ip", NFT_TABLE, NFT_CHAIN,
            "{ type nat hook postrouting priority srcnat ; policy accept ; }", NULL);
    if (r < 0)
        return r;
    struct in_addr a = {htonl(net)};
    char rule[256];
    snprintf(rule, sizeof(rule), "ip saddr %s/30 oifname != \"%s\" masquerade comment \"pyro:%s\"", inet_ntoa(a),
             ifname, id);
    return nft(err, NULL, "add", "rule", "ip", NFT_TABLE, NFT_CHAIN, rule, NULL);
}

/* The allow-list's sets and rules, added after guard_add's refusals: no
 * DNS but the filter's, established flows on, then only the sets. */
static int allow_add(const char *id, const char *ifname, const char *gw, char *const *allow_hosts, pyro_error *err)
{
    char cset[32], dset[32];
    set_name(id, 'c', cset);
    set_name(id, 'd', dset);
    int r = nft(err, NULL, "add", "set", "inet", NFT_GUARD, cset, "{ type ipv4_addr ; flags interval ; auto-merge ; }",
                NULL);
    if (r == 0)
        r = nft(err, NULL, "add", "set", "inet", NFT_GUARD, dset, "{ type ipv4_addr ; flags timeout ; size 65536 ; }",
                NULL);
    for (size_t i = 0; r == 0 && allow_hosts[i]; i++) {
        char norm[DNSFILTER_NAME_MAX];
        int kind = dnsfilter_entry_parse(allow_hosts[i], norm, err);
        if (kind < 0)
            return kind;
        if (kind == DNSFILTER_ENTRY_CIDR) {
            _cleanup_free_ char *elem = xasprintf("{ %s }", norm);
            r = nft(err, NULL, "add", "element", "inet", NFT_GUARD, cset, elem, NULL);
        }
    }
    char rules[4][256];
    snprintf(rules[0], sizeof(rules[0]),
             "iifname \"%s\" meta l4proto { tcp, udp } th dport { 53, 853 } reject with icmpx admin-prohibited "
             "comment \"pyro:%s\"",
             ifname, id);
    snprintf(rules[1], sizeof(rules[1]), "iifname \"%s\" ct state established,related accept comment \"pyro:%s\"",
             ifname, id);
    snprintf(rules[2], sizeof(rules[2]), "iifname \"%s\" ip daddr @%s accept comment \"pyro:%s\"", ifname, cset, id);
    snprintf(rules[3], sizeof(rules[3]), "iifname \"%s\" ip daddr @%s accept comment \"pyro:%s\"", ifname, dset, id);
    for (int i = 0; i < 4 && r == 0; i++)
        r = nft(err, NULL, "add", "rule", "inet", NFT_GUARD, "forward", rules[i], NULL);
    /* The filter serves the instance only: not the host's own processes,
     * whose packets to the gateway address arrive through lo (other
     * instances are refused by their own input rules). */
    if (r == 0) {
        char only[256];
        snprintf(only, sizeof(only),
                 "iifname != \"%s\" ip daddr %s meta l4proto { tcp, udp } th dport 53 drop comment \"pyro:%s\"", ifname,
                 gw, id);
        r = nft(err, NULL, "insert", "rule", "inet", NFT_GUARD, "input", only, NULL);
    }
    if (r == 0) {
        char last[160];
        snprintf(last, sizeof(last), "iifname \"%s\" reject with icmpx admin-prohibited comment \"pyro:%s\"", ifname,
                 id);
        r = nft(err, NULL, "add", "rule", "inet", NFT_GUARD, "forward", last, NULL);
    }
    return r;
}

/* The guard rules of one sandbox (see the top of this file). Packets to any
 * address of the host arrive through the input hook, whatever interface the
 * address is on; forwarded packets through the forward hook. */
static int guard_add(const char *id, uint32_t net, const char *ifname, bool allow_host, char *const *allow_hosts,
                     pyro_error *err)
{
    int r = nft(err, NULL, "add", "table", "inet", NFT_GUARD, NULL, NULL, NULL);
    if (r == 0)
        r = nft(err, NULL, "add", "chain", "inet", NFT_GUARD, "input",
                "{ type filter hook input priority filter - 10 ; policy accept ; }", NULL);
    if (r == 0)
        r = nft(err, NULL, "add", "chain", "inet", NFT_GUARD, "forward",
                "{ type filter hook forward priority filter - 10 ; policy accept ; }", NULL);
    if (r < 0)
        return r;
    struct in_addr gw = {htonl(net + 1)};
    char gwtext[INET_ADDRSTRLEN];
    snprintf(gwtext, sizeof(gwtext), "%s", inet_ntoa(gw));
    char rules[5][320];
    snprintf(rules[0], sizeof(rules[0]), "iifname \"%s\" ct state established,related accept comment \"pyro:%s\"",
             ifname, id);
    snprintf(rules[1], sizeof(rules[1]),
             "iifname \"%s\" ip daddr %s meta l4proto { tcp, udp } th dport 53 accept comment \"pyro:%s\"", ifname,
             gwtext, id);
    snprintf(rules[2], sizeof(rules[2]), "iifname \"%s\" reject with icmpx admin-prohibited comment \"pyro:%s\"",
             ifname, id);
    snprintf(rules[3], sizeof(rules[3]),
             "iifname \"%s\" ip daddr %s reject with icmpx admin-prohibited comment \"pyro:%s\"", ifname,
             GUARD_FORWARD_DENY, id);
    snprintf(rules[4], sizeof(rules[4]),
             "iifname \"%s\" meta nfproto ipv6 reject with icmpx admin-prohibited comment \"pyro:%s\"", ifname, id);
    if (allow_host) /* the operator's opt-in: no input rules, link-local allowed */
        snprintf(rules[3], sizeof(rules[3]),
                 "iifname \"%s\" ip daddr %s reject with icmpx admin-prohibited comment \"pyro:%s\"", ifname,
                 GUARD_FORWARD_DENY_ALLOW_HOST, id);
    for (int i = allow_host ? 3 : 0; i < 5 && r == 0; i++)
        r = nft(err, NULL, "add", "rule", "inet", NFT_GUARD, i < 3 ? "input" : "forward", rules[i], NULL);
    if (r == 0 && allow_hosts)
        r = allow_add(id, ifname, gwtext, allow_hosts, err);
    return r;
}

/* Deletes every rule of one chain whose comment is "pyro:<id>". */
static int rules_remove(const char *id, const char *family, const char *table, const char *chain, pyro_error *err)
{
    _cleanup_free_ char *out = NULL;
    pyro_error e2;
    if (nft(&e2, &out, "-j", "-a", "list", "chain", family, table, chain) < 0)
        return 0; /* no table or chain: nothing of ours is left */
    json_t *root = NULL;
    if (json_parse(out, strlen(out), &root, err) < 0)
        return err_prefix(err, "parse nft -j output");
    char want[128];
    snprintf(want, sizeof(want), "pyro:%s", id);
    json_t *items = json_object_get(root, "nftables");
    size_t i;
    json_t *it;
    int r = 0;
    json_array_foreach(items, i, it) {
        json_t *rule = json_object_get(it, "rule");
        const char *comment = json_get_str(rule, "comment", NULL);
        if (!rule || !comment || strcmp(comment, want) != 0)
            continue;
        char handle[32];
        snprintf(handle, sizeof(handle), "%lld", json_get_int(rule, "handle", -1));
        r = nft(err, NULL, "delete", "rule", family, table, chain, "handle", handle);
        if (r < 0)
            break;
    }
    json_decref(root);
    return r;
}

/* The allow-list's sets of id, after the rules that use them; one that
 * does not exist is fine. */
static int sets_remove(const char *id, pyro_error *err)
{
    _cleanup_free_ char *out = NULL;
    pyro_error e2;
    if (nft(&e2, &out, "list", "sets", "inet", NULL, NULL, NULL, NULL) < 0)
        return 0; /* no table: no set */
    for (const char *k = "cd"; *k; k++) {
        char name[32];
        set_name(id, *k, name);
        if (!strstr(out, name))
            continue;
        int r = nft(err, NULL, "delete", "set", "inet", NFT_GUARD, name, NULL, NULL);
        if (r < 0)
            return r;
    }
    return 0;
}

static int rules_remove_all(const char *id, pyro_error *err)
{
    int r = rules_remove(id, "ip", NFT_TABLE, NFT_CHAIN, err);
    if (r == 0)
        r = rules_remove(id, "inet", NFT_GUARD, "input", err);
    if (r == 0)
        r = rules_remove(id, "inet", NFT_GUARD, "forward", err);
    if (r == 0)
        r = sets_remove(id, err);
    return r;
}

int netguard_prepare(const char *id, bool allow_host, char *const *allow_hosts, struct netguard *net, pyro_error *err)
{
    *net = (struct netguard){.lock_fd = -1, .allow_hosts = allow_hosts};
    snprintf(net->id, sizeof(net->id), "%s", id);
    netguard_ifname(id, net->ifname);
    if (mkdir(NET_LOCK_DIR, 0755) < 0 && errno != EEXIST)
        return err_errno(err, errno, "create %s", NET_LOCK_DIR);
    _cleanup_close_ int lock = open(NET_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock < 0)
        return err_errno(err, errno, "open %s", NET_LOCK);
    while (flock(lock, LOCK_EX) < 0)
        if (errno != EINTR)
            return err_errno(err, errno, "lock %s", NET_LOCK);
    if (if_nametoindex(net->ifname) != 0)
        return err_set(err, -EEXIST, "network interface %s of instance %s already exists", net->ifname, id);

    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) < 0)
        return err_errno(err, errno, "list network interfaces");
    uint32_t start = (uint32_t)(fnv1a(id) % NET_SLOTS), found = UINT32_MAX;
    for (uint32_t k = 0; k < NET_SLOTS && found == UINT32_MAX; k++) {
        uint32_t slot = (start + k) % NET_SLOTS;
        if (subnet_free(NET_BASE + slot * 4, ifs))
            found = NET_BASE + slot * 4;
    }
    freeifaddrs(ifs);
    if (found == UINT32_MAX)
        return err_set(err, -PYRO_E_LIMIT, "no free /30 left in 10.213.0.0/16");
    net->host_addr.s_addr = htonl(found + 1);
    net->guest_addr.s_addr = htonl(found + 2);

    int r = enable_forwarding(err);
    if (r < 0)
        return r;
    r = guard_add(id, found, net->ifname, allow_host, allow_hosts, err);
    if (r == 0)
        r = nat_add(id, found, net->ifname, err);
    if (r < 0) {
        pyro_error e2;
        rules_remove_all(id, &e2);
        return r;
    }
    net->lock_fd = TAKE_FD(lock);
    return 0;
}

int netguard_attach(struct netguard *net, pid_t pid, pyro_error *err)
{
    _cleanup_close_ __attribute__((unused)) int lock = TAKE_FD(net->lock_fd); /* held until return */
    char pidbuf[16], addr[32];
    snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
    int r = ip(err, "link", "add", net->ifname, "type", "veth", "peer", "name", "eth0", "netns", pidbuf);
    if (r < 0)
        return r;
    snprintf(addr, sizeof(addr), "%s/30", inet_ntoa(net->host_addr));
    r = ip(err, "addr", "add", addr, "dev", net->ifname, NULL, NULL, NULL, NULL, NULL);
    if (r == 0)
        r = ip(err, "link", "set", net->ifname, "up", NULL, NULL, NULL, NULL, NULL, NULL);
    if (r < 0 || !net->allow_hosts)
        return r;
    char dset[32], nftset[64];
    set_name(net->id, 'd', dset);
    snprintf(nftset, sizeof(nftset), "inet %s %s", NFT_GUARD, dset);
    struct dnsfilter_config dc = {
        .id = net->id, .ifname = net->ifname, .addr = net->host_addr, .nft_set = nftset, .allow = net->allow_hosts};
    pid_t filter_pid;
    return dnsfilter_start(&dc, &filter_pid, err);
}

int netguard_teardown(const char *id, bool nat, pyro_error *err)
{
    char ifname[IF_NAMESIZE];
    netguard_ifname(id, ifname);
    if (if_nametoindex(ifname) != 0) {
        int r = ip(err, "link", "del", ifname, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
        /* The link may vanish on its own when the namespace goes away. */
        if (r < 0 && if_nametoindex(ifname) != 0)
            return r;
    }
    return nat ? rules_remove_all(id, err) : 0;
}

int netguard_resolv(const char *dir, pyro_error *err)
{
    _cleanup_fclose_ FILE *in = fopen("/etc/resolv.conf", "re");
    if (!in)
        return 0;
    char line[512], text[2048] = "";
    size_t used = 0;
    while (fgets(line, sizeof(line), in)) {
        char addr[INET6_ADDRSTRLEN + 1];
        if (sscanf(line, " nameserver %46s", addr) != 1)
            continue;
        struct in_addr a4;
        struct in6_addr a6;
        bool usable = false;
        if (inet_pton(AF_INET, addr, &a4) == 1)
            usable = (ntohl(a4.s_addr) >> 24) != 127 && a4.s_addr != 0;
        else if (inet_pton(AF_INET6, addr, &a6) == 1)
            usable = false; /* the sandbox has no IPv6 egress */
        if (usable && used + strlen(addr) + 13 < sizeof(text))
            used += (size_t)snprintf(text + used, sizeof(text) - used, "nameserver %s\n", addr);
    }
    if (used == 0)
        return 0;
    _cleanup_free_ char *path = xasprintf("%s/resolv.conf", dir);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 || write(fd, text, used) != (ssize_t)used)
        return err_errno(err, errno, "write %s", path);
    return 1;
}

int netguard_resolv_filter(const char *dir, const struct netguard *net, pyro_error *err)
{
    char text[64];
    int n = snprintf(text, sizeof(text), "nameserver %s\n", inet_ntoa(net->host_addr));
    _cleanup_free_ char *path = xasprintf("%s/resolv.conf", dir);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 || write(fd, text, (size_t)n) != n)
        return err_errno(err, errno, "write %s", path);
    return 0;
}
