/* Egress for the instances of an ordinary user (a sandbox, a VM's QEMU):
 * pasta (Debian package passt), a user-mode network stack, attached to the
 * instance's user and network namespaces (usernet.c), behind a guard of
 * nftables rules inside that network namespace (userguard.c). A user may
 * not create a veth pair or NAT on the host (netguard.h is root's). */
#ifndef PYRO_BACKEND_USERNET_H
#define PYRO_BACKEND_USERNET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

/* The instance's side of pasta's network (the slirp4netns convention):
 * eth0 is 10.0.2.100/24 with the default route via 10.0.2.2. */
#define USERNET_GUEST "10.0.2.100"
#define USERNET_GATEWAY "10.0.2.2"
#define USERNET_PREFIX 24

/* Files usernet and its guard keep in an instance's directory (for the
 * backends' lists of files to remove). */
#define USERNET_READY_FILE "pasta.ready"
#define USERNET_GUARD_FILE "guard.nft"

/* pasta, nft and /dev/net/tun, checked before anything is created: a
 * missing piece is -PYRO_E_UNSUPPORTED naming it and the fix. An egress
 * allow-list (allow_hosts) is refused: pasta's sockets are the user's,
 * where pyro cannot filter by destination. */
int usernet_check(bool allow_hosts, pyro_error *err);

/* Called once pasta runs, before anything else can fail, to record its pid
 * and start time where destroy finds them (the instance's state file). */
typedef int (*usernet_record_fn)(void *arg, pid_t pasta_pid, int64_t pasta_start, pyro_error *err);

/* With pid cloned into user and network namespaces of its own, its ids
 * mapped and still waiting (so that the user may open its /proc/PID/ns
 * files): starts pasta attached to both, records it, installs the guard in
 * the network namespace and waits until pasta is ready (its tap eth0
 * exists; the instance addresses it with USERNET_GUEST). On failure pasta
 * is killed. */
int usernet_attach(const char *dir, pid_t pid, bool allow_host, usernet_record_fn record, void *arg, pyro_error *err);

/* Kills the pasta of a state file (pid and start time; a reused pid is
 * left alone) and reaps it when it is this process's child. */
void usernet_stop(pid_t pid, int64_t start_time);

/* userguard.c: writes dir/guard.nft and loads it into the network
 * namespace netns_fd of the user namespace userns_fd, from a helper that
 * joins both (the instance holds no CAP_NET_ADMIN there to undo it). */
int usernet_guard_install(const char *dir, int userns_fd, int netns_fd, bool allow_host, pyro_error *err);

#endif
