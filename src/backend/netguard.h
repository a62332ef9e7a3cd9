/* Egress as root, shared by the backends: a veth pair into the instance's
 * network namespace (a sandbox's, or the one a VM's QEMU runs in), a /30
 * from 10.213.0.0/16, NAT, and the egress guard (nftables rules tagged
 * "pyro:<id>"). See netguard.c. */
#ifndef PYRO_BACKEND_NETGUARD_H
#define PYRO_BACKEND_NETGUARD_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"

struct netguard {
    char id[65];               /* the instance's */
    char ifname[IF_NAMESIZE];  /* host end of the veth */
    struct in_addr host_addr;  /* .1 of the /30, the namespace's gateway */
    struct in_addr guest_addr; /* .2 of the /30 */
    int lock_fd;               /* held from prepare to attach */
    /* The egress allow-list (backend/dnsfilter.h), borrowed; NULL: every
     * address the guard does not refuse. */
    char *const *allow_hosts;
};

/* "pyro-" and 10 hex digits of a hash of id. */
void netguard_ifname(const char *id, char out[IF_NAMESIZE]);
/* Takes the host-wide network lock, allocates a free /30 in 10.213.0.0/16,
 * enables IPv4 forwarding and installs the guard and masquerade rules
 * (allow_host: the operator's PYRO_EGRESS_ALLOW_HOST=1). With allow_hosts
 * (entries checked by dnsfilter_entry_parse), the instance's forwarded
 * packets go only to its CIDRs and to the addresses its DNS filter
 * resolved, and never to port 53 of anyone but the filter. */
int netguard_prepare(const char *id, bool allow_host, char *const *allow_hosts, struct netguard *net, pyro_error *err);
/* Creates the veth pair with its inner end as eth0 in pid's network
 * namespace, addresses and raises the host end, drops the lock; with an
 * allow-list, starts the instance's DNS filter on the host end. */
int netguard_attach(struct netguard *net, pid_t pid, pyro_error *err);
/* Removes the veth and (nat) the rules of id; missing ones are fine. */
int netguard_teardown(const char *id, bool nat, pyro_error *err);
/* Writes dir/resolv.conf with the host's non-loopback IPv4 resolvers;
 * returns 1 when written, 0 when the host has none usable. */
int netguard_resolv(const char *dir, pyro_error *err);
/* With an allow-list: writes dir/resolv.conf naming the DNS filter (the
 * gateway) as the only resolver. */
int netguard_resolv_filter(const char *dir, const struct netguard *net, pyro_error *err);

#endif
