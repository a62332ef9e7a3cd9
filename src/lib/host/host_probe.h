/* Kernel features the sandbox backend needs, each tried for real in a
 * forked child bounded in time (HOST_PROBE_TIMEOUT_MS). Results are 0 when
 * the feature works, else the errno of the step that failed (ETIMEDOUT when
 * the child hung). */
#ifndef PYRO_HOST_PROBE_H
#define PYRO_HOST_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#define HOST_PROBE_TIMEOUT_MS 2000
#define HOST_PROBE_NOBODY 65534

struct userns_probe {
    long max_user_namespaces; /* user.max_user_namespaces, -1 when unreadable */
    long unprivileged_clone;  /* kernel.unprivileged_userns_clone, -1 when absent */
    int self_errno;           /* unshare(CLONE_NEWUSER) as the current user */
    bool tried_nobody;        /* running as root: also tried as uid 65534 */
    int nobody_errno;
};

void host_probe_userns(struct userns_probe *p);
/* unshare of mount, pid, ipc, uts, net and cgroup namespaces (inside a new
 * user namespace when not root). */
int host_probe_namespaces(void);
/* overlay listed in /proc/filesystems. */
bool host_overlay_listed(void);
/* Mounts an overlay with the userxattr option in a fresh user and mount
 * namespace (the user mapped to 0), then creates a file through it and
 * removes a file of the lower layer (a whiteout): what a rootless sandbox
 * does. As root with as_uid >= 0, the child first drops to as_uid/as_gid,
 * so that the probe runs with no privilege; its scratch directory is then
 * owned by that uid. *step names the step that failed. */
int host_probe_overlay_userns(const char *scratch_parent, int as_uid, int as_gid, const char **step);
/* Installs an allow-all seccomp filter (after no_new_privs) in a child;
 * actions gets /proc/sys/kernel/seccomp/actions_avail ("" if unreadable). */
int host_probe_seccomp(char *actions, size_t size);
/* Opens /dev/net/tun read-write. */
int host_probe_tun(void);

#endif
