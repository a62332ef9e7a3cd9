/* Egress allow-lists (docs/workspaces.md, "Network"): the entries, and
 * the DNS filter that answers an instance's queries.
 *
 * An allow-list holds domain names (an optional leading "*." matches every
 * name below it, not the name itself) and IPv4 CIDRs (an address alone is
 * a /32). With one, the egress guard (netguard.c) forwards an instance's
 * packets only to the CIDRs and to the addresses its DNS filter handed
 * out; the instance's resolver is that filter, on the gateway address of
 * its veth, port 53, reachable from that veth only. The filter is a child
 * of the monitor (it dies with it): it answers NXDOMAIN for names not on
 * the list, forwards the others to the host's resolvers, and adds the A
 * records of an answer to the instance's nftables set, with their TTL,
 * before it replies. dnsmsg.c holds the wire format, dnsfilter.c the
 * process. */
#ifndef PYRO_BACKEND_DNSFILTER_H
#define PYRO_BACKEND_DNSFILTER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define DNSFILTER_NAME_MAX 254 /* 253 characters and the NUL */

enum { DNSFILTER_ENTRY_NAME = 0, DNSFILTER_ENTRY_CIDR = 1 };

/* Classifies one allow-list entry: DNSFILTER_ENTRY_NAME with the name
 * lowercased and without a trailing dot in out, or DNSFILTER_ENTRY_CIDR
 * with "a.b.c.d/len" (host bits cleared) in out; anything else is
 * -PYRO_E_INVALID with a message that says why. */
int dnsfilter_entry_parse(const char *entry, char out[DNSFILTER_NAME_MAX], pyro_error *err);

/* ---- the wire format (dnsmsg.c); every reader is bounded by len ---- */

/* The one question of a standard query: its name (lowercased, dotted,
 * without the root's dot; "" for the root), type, and the offset just past
 * the question. -1 for anything else (a reply, another opcode, several
 * questions, a compressed or overlong name). */
int dnsmsg_question(const uint8_t *msg, size_t len, char name[DNSFILTER_NAME_MAX], uint16_t *qtype, size_t *qend);
/* Whether name is on the list of names (entries that are not CIDRs). */
bool dnsmsg_name_allowed(const char *name, char *const *names);
/* A reply to the query msg (its header and question, qend from
 * dnsmsg_question) with rcode and no records; returns its length. */
size_t dnsmsg_reply_empty(const uint8_t *msg, size_t qend, int rcode, uint8_t *out, size_t cap);
/* The A records (class IN) of the answer section of reply, up to max;
 * returns how many, or -1 when reply is malformed. */
int dnsmsg_answers_a(const uint8_t *reply, size_t len, struct in_addr *addrs, uint32_t *ttls, int max);

#define DNSMSG_NXDOMAIN 3
#define DNSMSG_SERVFAIL 2

/* ---- the filter process (dnsfilter.c) ---- */

struct dnsfilter_config {
    const char *id;      /* the instance, for log lines */
    const char *ifname;  /* the veth's host end: the socket is bound to it */
    struct in_addr addr; /* its address (the instance's gateway) */
    const char *nft_set; /* "inet pyro_guard <set>": where answers go */
    char *const *allow;  /* the allow-list (names and CIDRs) */
};

/* Binds the filter's socket and forks the filter (a child that dies with
 * the caller, and exits once the veth is gone). Upstream resolvers:
 * $PYRO_DNS_UPSTREAM (IPv4 addresses separated by commas or spaces), else
 * the IPv4 nameservers of the host's /etc/resolv.conf. */
int dnsfilter_start(const struct dnsfilter_config *cfg, pid_t *pid, pyro_error *err);

#endif
