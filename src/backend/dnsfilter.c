/* The DNS filter of an instance with an allow-list (see dnsfilter.h): a
 * child of the monitor serving one UDP socket bound to the instance's
 * gateway address, port 53, on the veth's host end (SO_BINDTODEVICE). The
 * egress guard (netguard.c) drops packets to it that arrive on any other
 * interface: the host's own processes' (through lo, which the binding
 * alone would still serve) and other instances'.
 *
 * One query at a time, each bounded: a name not on the list is answered
 * NXDOMAIN at once; an allowed one goes to the upstream resolvers in turn
 * (2 s each) under a fresh random id, the reply must carry that id and the
 * same question, its A records enter the instance's nftables set with
 * their TTL (at least DNS_TTL_MIN, at most DNS_TTL_MAX seconds) before the
 * reply goes back; when nft fails the instance gets SERVFAIL, never an
 * address the guard would drop. TCP is not served (answers that do not fit
 * in UDP stay truncated). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/dnsfilter.h"
#include "backend/hostcmd.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/timeutil.h"

#define DNS_MSG_MAX 4096
#define DNS_UPSTREAM_MAX 4
#define DNS_UPSTREAM_TIMEOUT_MS 2000
#define DNS_TTL_MIN 60
#define DNS_TTL_MAX 86400
#define DNS_ANSWERS_MAX 32
#define DNS_SEEN_MAX 256

struct filter {
    const struct dnsfilter_config *cfg;
    char **names; /* the entries that are names */
    struct in_addr upstream[DNS_UPSTREAM_MAX];
    int nupstream;
    unsigned ifindex;
    /* Addresses already in the set and when their element expires: a
     * repeated answer skips nft until half its timeout has passed. */
    struct {
        struct in_addr a;
        int64_t expires_ms;
    } seen[DNS_SEEN_MAX];
};

static void upstream_add(struct filter *f, const char *text)
{
    struct in_addr a;
    if (f->nupstream < DNS_UPSTREAM_MAX && inet_pton(AF_INET, text, &a) == 1 && a.s_addr != 0)
        f->upstream[f->nupstream++] = a;
}

static void upstream_load(struct filter *f)
{
    const char *env = getenv("PYRO_DNS_UPSTREAM");
    if (env && *env) {
        _cleanup_free_ char *copy = xstrdup(env);
        char *save = NULL;
        for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
            upstream_add(f, t);
        return;
    }
    _cleanup_fclose_ FILE *in = fopen("/etc/resolv.conf", "re");
    char line[512], addr[64];
    while (in && fgets(line, sizeof(line), in))
        if (sscanf(line, " nameserver %63s", addr) == 1)
            upstream_add(f, addr); /* the host's loopback resolvers too: this runs on the host */
}

/* Adds addrs to the set, each with its own timeout, in one transaction;
 * "add, delete, add" so that an element already there gets the new one. */
static int set_add(struct filter *f, const struct in_addr *addrs, const uint32_t *ttls, int n)
{
    int64_t now = time_mono_ms();
    char plain[DNS_ANSWERS_MAX * 18] = "", timed[DNS_ANSWERS_MAX * 40] = "";
    size_t pu = 0, tu = 0;
    for (int i = 0; i < n; i++) {
        uint32_t t = ttls[i] < DNS_TTL_MIN ? DNS_TTL_MIN : ttls[i] > DNS_TTL_MAX ? DNS_TTL_MAX : ttls[i];
        int slot = -1, free_slot = -1;
        for (int k = 0; k < DNS_SEEN_MAX; k++) {
            if (f->seen[k].expires_ms > now && f->seen[k].a.s_addr == addrs[i].s_addr)
                slot = k;
            else if (free_slot < 0 && f->seen[k].expires_ms <= now)
                free_slot = k;
        }
        if (slot >= 0 && f->seen[slot].expires_ms - now > (int64_t)t * 500)
            continue; /* in the set for at least half of t more */
        if (slot < 0)
            slot = free_slot;
        if (slot >= 0)
            f->seen[slot].a = addrs[i], f->seen[slot].expires_ms = now + (int64_t)t * 1000;
        const char *text = inet_ntoa(addrs[i]);
        pu += (size_t)snprintf(plain + pu, sizeof(plain) - pu, "%s%s", pu ? ", " : "", text);
        tu += (size_t)snprintf(timed + tu, sizeof(timed) - tu, "%s%s timeout %us", tu ? ", " : "", text, t);
    }
    if (pu == 0)
        return 0;
    const char *set = f->cfg->nft_set;
    _cleanup_free_ char *cmd = xasprintf("add element %s { %s }; delete element %s { %s }; add element %s { %s }", set,
                                         plain, set, plain, set, timed);
    const char *bin = hostcmd_find("nft");
    char *argv[] = {(char *)(bin ? bin : "nft"), cmd, NULL};
    pyro_error err = {0};
    int r = hostcmd_run(argv, NULL, &err);
    if (r < 0) {
        log_msg(PYRO_LOG_WARN, "dns filter %s: %s", f->cfg->id, err.message);
        memset(f->seen, 0, sizeof(f->seen));
    }
    return r;
}

/* Asks the upstream resolvers; the reply (id restored) is in out. */
static ssize_t ask_upstream(struct filter *f, const uint8_t *q, size_t qlen, size_t qend, uint8_t *out)
{
    _cleanup_free_ uint8_t *fwd = xmalloc(qlen);
    memcpy(fwd, q, qlen);
    for (int i = 0; i < f->nupstream; i++) {
        uint16_t id;
        if (getrandom(&id, sizeof(id), 0) != sizeof(id))
            return -1;
        memcpy(fwd, &id, 2);
        _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(53), .sin_addr = f->upstream[i]};
        if (s < 0 || connect(s, (struct sockaddr *)&to, sizeof(to)) < 0 || send(s, fwd, qlen, 0) != (ssize_t)qlen)
            continue;
        int64_t deadline = time_mono_ms() + DNS_UPSTREAM_TIMEOUT_MS;
        for (int64_t left; (left = deadline - time_mono_ms()) > 0;) {
            struct pollfd p = {.fd = s, .events = POLLIN};
            if (poll(&p, 1, (int)left) <= 0)
                break;
            ssize_t n = recv(s, out, DNS_MSG_MAX, 0);
            if (n < 0)
                break; /* refused: the next one */
            /* Same id, a reply, and the question that was asked. */
            if ((size_t)n >= qend && !memcmp(out, &id, 2) && (out[2] & 0x80) && !memcmp(out + 4, q + 4, 2) &&
                !memcmp(out + 12, q + 12, qend - 12)) {
                memcpy(out, q, 2);
                return n;
            }
        }
    }
    return -1;
}

static void serve_one(struct filter *f, int fd)
{
    uint8_t q[DNS_MSG_MAX], out[DNS_MSG_MAX];
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (n <= 0)
        return;
    char name[DNSFILTER_NAME_MAX];
    uint16_t qtype;
    size_t qend, olen = 0;
    if (dnsmsg_question(q, (size_t)n, name, &qtype, &qend) < 0)
        return; /* not a query we answer */
    if (!dnsmsg_name_allowed(name, f->names)) {
        log_debug("dns filter %s: %s (type %u) refused", f->cfg->id, name, qtype);
        olen = dnsmsg_reply_empty(q, qend, DNSMSG_NXDOMAIN, out, sizeof(out));
    } else {
        ssize_t rn = ask_upstream(f, q, (size_t)n, qend, out);
        struct in_addr addrs[DNS_ANSWERS_MAX];
        uint32_t ttls[DNS_ANSWERS_MAX];
        int na = rn > 0 ? dnsmsg_answers_a(out, (size_t)rn, addrs, ttls, DNS_ANSWERS_MAX) : -1;
        if (na < 0 || (na > 0 && set_add(f, addrs, ttls, na) < 0))
            olen = dnsmsg_reply_empty(q, qend, DNSMSG_SERVFAIL, out, sizeof(out));
        else
            olen = (size_t)rn;
        log_debug("dns filter %s: %s (type %u) allowed, %d address(es)", f->cfg->id, name, qtype, na);
    }
    if (olen)
        sendto(fd, out, olen, 0, (struct sockaddr *)&from, fl);
}

static _Noreturn void filter_main(struct filter *f, int fd, pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
        _exit(0);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    /* Nothing of the monitor's but the socket and stderr (its log). */
    if (dup2(fd, 3) < 0)
        _exit(1);
    close_range(4, ~0u, 0);
    if (fd != 3)
        close(fd);
    for (;;) {
        struct pollfd p = {.fd = 3, .events = POLLIN};
        int r = poll(&p, 1, 1000);
        if (r < 0 && errno != EINTR)
            _exit(1);
        if (if_nametoindex(f->cfg->ifname) != (unsigned)f->ifindex)
            _exit(0); /* the veth is gone: so is the instance */
        if (r > 0)
            serve_one(f, 3);
    }
}

int dnsfilter_start(const struct dnsfilter_config *cfg, pid_t *pid, pyro_error *err)
{
    struct filter f = {.cfg = cfg, .ifindex = if_nametoindex(cfg->ifname)};
    if (f.ifindex == 0)
        return err_errno(err, errno, "DNS filter: interface %s", cfg->ifname);
    size_t count = 0;
    while (cfg->allow && cfg->allow[count])
        count++;
    f.names = xcalloc(count + 1, sizeof(char *));
    for (size_t i = 0, k = 0; i < count; i++) {
        char norm[DNSFILTER_NAME_MAX];
        if (dnsfilter_entry_parse(cfg->allow[i], norm, err) == DNSFILTER_ENTRY_NAME)
            f.names[k++] = xstrdup(norm);
    }
    upstream_load(&f);
    if (f.nupstream == 0)
        log_msg(PYRO_LOG_WARN,
                "dns filter %s: no IPv4 resolver in /etc/resolv.conf or $PYRO_DNS_UPSTREAM: every allowed name "
                "gets SERVFAIL",
                cfg->id);
    (void)hostcmd_find("nft"); /* resolved before the fork */
    _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int one = 1, r = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53), .sin_addr = cfg->addr};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, cfg->ifname, (socklen_t)strlen(cfg->ifname)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        r = err_errno(err, errno, "DNS filter: bind %s:53 on %s", inet_ntoa(cfg->addr), cfg->ifname);
    pid_t parent = getpid();
    pid_t child = r == 0 ? fork() : -1;
    if (r == 0 && child < 0)
        r = err_errno(err, errno, "DNS filter: fork");
    if (child == 0)
        filter_main(&f, fd, parent);
    for (size_t i = 0; i < count; i++)
        free(f.names[i]);
    free(f.names);
    if (r == 0)
        *pid = child;
    return r;
}
