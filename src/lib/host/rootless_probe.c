#include "lib/host/rootless_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/probe.h"
#include "base/spawn_capture.h"

#define USERNET_TIMEOUT_MS 2000
#define MAP_PROBE_TIMEOUT_MS 2000

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool filecap_grants(const void *value, size_t len, int cap)
{
    const unsigned char *v = value;
    if (cap < 0 || cap >= 64 || len < 4)
        return false;
    uint32_t magic = le32(v);
    uint32_t rev = magic & VFS_CAP_REVISION_MASK;
    if (rev == VFS_CAP_REVISION_2 && len != XATTR_CAPS_SZ_2)
        return false;
    if (rev == VFS_CAP_REVISION_3 && (len != XATTR_CAPS_SZ_3 || le32(v + XATTR_CAPS_SZ_2) != 0))
        return false; /* revision 3 names the root of a user namespace: 0 is the host's */
    if (rev != VFS_CAP_REVISION_2 && rev != VFS_CAP_REVISION_3)
        return false;
    if (!(magic & VFS_CAP_FLAGS_EFFECTIVE))
        return false;
    /* data[i] = {permitted, inheritable}, i = cap / 32 */
    uint32_t permitted = le32(v + 4 + (size_t)(cap / 32) * 8);
    return permitted & (1u << (cap % 32));
}

void map_helper_probe(const char *name, int cap, struct map_helper *h)
{
    *h = (struct map_helper){0};
    _cleanup_free_ char *path = NULL;
    if (proc_find_program(name, &path, NULL) < 0)
        return;
    snprintf(h->path, sizeof(h->path), "%s", path);
    struct stat st;
    if (stat(path, &st) < 0)
        return;
    h->setuid_root = st.st_uid == 0 && (st.st_mode & S_ISUID);
    unsigned char caps[XATTR_CAPS_SZ_3];
    ssize_t n = getxattr(path, "security.capability", caps, sizeof(caps));
    h->filecap = n > 0 && filecap_grants(caps, (size_t)n, cap);
}

bool map_helper_ok(const struct map_helper *h)
{
    return h->path[0] && (h->setuid_root || h->filecap);
}

/* The child: a user namespace of its own, then it waits for the parent
 * to map it and exits when the pipe closes. */
__attribute__((noreturn)) static void map_child(int rd, int wr)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c = unshare(CLONE_NEWUSER) < 0 ? 'e' : 'u';
    if (write(wr, &c, 1) != 1 || c == 'e')
        _exit(1);
    while (read(rd, &c, 1) < 0 && errno == EINTR)
        ;
    _exit(0);
}

static int map_check(const struct idmap *m, pid_t pid, pyro_error *err)
{
    char path[64], text[256];
    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
    if (probe_read_file(path, text, sizeof(text)) < 0)
        return err_set(err, -EIO, "cannot read %s", path);
    unsigned long inside, outside, count;
    if (sscanf(text, "%lu %lu %lu", &inside, &outside, &count) != 3 || inside != 0 || outside != m->uid_base ||
        count != m->count)
        return err_set(err, -EIO, "the test child's uid_map reads '%s', not 0 %u %u", text, (unsigned)m->uid_base,
                       m->count);
    return 0;
}

int rootless_map_probe(const struct idmap *m, pyro_error *err)
{
    int to_child[2], to_parent[2];
    if (pipe2(to_child, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    if (pipe2(to_parent, O_CLOEXEC) < 0) {
        int e = errno;
        close(to_child[0]);
        close(to_child[1]);
        return err_errno(err, e, "pipe");
    }
    pid_t pid = fork();
    if (pid == 0)
        map_child(to_child[0], to_parent[1]);
    close(to_child[0]);
    close(to_parent[1]);
    int r = 0;
    if (pid < 0)
        r = err_errno(err, errno, "fork");
    struct pollfd pfd = {.fd = to_parent[0], .events = POLLIN};
    char c = 0;
    if (r == 0 && (poll(&pfd, 1, MAP_PROBE_TIMEOUT_MS) != 1 || read(to_parent[0], &c, 1) != 1 || c != 'u'))
        r = err_set(err, -EPERM, "the test child could not create a user namespace");
    if (r == 0)
        r = idmap_write(m, pid, false, err);
    if (r == 0)
        r = map_check(m, pid, err);
    close(to_child[1]); /* the child exits */
    close(to_parent[0]);
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    return r;
}

void usernet_probe(struct usernet_tool t[USERNET_COUNT])
{
    static const char *const names[USERNET_COUNT] = {"pasta", "slirp4netns"};
    for (int i = 0; i < USERNET_COUNT; i++) {
        t[i] = (struct usernet_tool){.name = names[i]};
        _cleanup_free_ char *path = NULL;
        if (proc_find_program(names[i], &path, NULL) < 0)
            continue;
        snprintf(t[i].path, sizeof(t[i].path), "%s", path);
        char *argv[] = {path, (char *)"--version", NULL};
        _cleanup_free_ char *out = NULL;
        bool truncated;
        int status = -1;
        if (proc_capture(argv, USERNET_TIMEOUT_MS, 4096, &out, &truncated, &status, NULL) < 0)
            continue;
        t[i].runs = status == 0;
        size_t len = strcspn(out, "\n");
        snprintf(t[i].version, sizeof(t[i].version), "%.*s", (int)len, out);
    }
}

enum kvm_access kvm_access_decide(bool device, bool opens, bool member_db, bool member_now)
{
    if (!device)
        return KVM_ACCESS_NO_DEVICE;
    if (opens)
        return KVM_ACCESS_OK;
    if (member_db && !member_now)
        return KVM_ACCESS_RELOGIN;
    return KVM_ACCESS_NO_GROUP;
}

bool group_has_user(gid_t gid, const char *user, gid_t pgid)
{
    if (pgid == gid)
        return true;
    struct group *gr = user ? getgrgid(gid) : NULL;
    for (char **m = gr ? gr->gr_mem : NULL; m && *m; m++)
        if (!strcmp(*m, user))
            return true;
    return false;
}

const char *limit_by_name(enum limit_by b)
{
    switch (b) {
    case LIMIT_CGROUP_V1: return "cgroup_v1";
    case LIMIT_CGROUP_V2: return "cgroup_v2";
    case LIMIT_RLIMIT_NPROC: return "rlimit_nproc";
    case LIMIT_NONE:
    default: return "none";
    }
}

bool limit_by_enforced(enum limit_by b)
{
    return b == LIMIT_CGROUP_V1 || b == LIMIT_CGROUP_V2;
}

void sandbox_limits_decide(bool root, const struct cgroup_probe *p, const struct cgroups_user *u,
                           enum limit_by out[CGROUP_CTL_COUNT])
{
    for (int i = 0; i < CGROUP_CTL_COUNT; i++) {
        if (!root && u && u->base[0] && (u->ctl & cgroup_ctl_bit(i)))
            out[i] = LIMIT_CGROUP_V2;
        else if (!root)
            out[i] = i == CGROUP_CTL_PIDS ? LIMIT_RLIMIT_NPROC : LIMIT_NONE;
        else if (!cgroup_controller_usable(&p->ctl[i]))
            out[i] = LIMIT_NONE;
        else
            out[i] = p->ctl[i].version == 1 ? LIMIT_CGROUP_V1 : LIMIT_CGROUP_V2;
    }
}
