/* Where an ordinary user may make cgroups: cgroup v2 delegation.
 *
 * The kernel lets a user create cgroups, set their limits and move
 * processes between them inside a subtree whose directory, cgroup.procs and
 * cgroup.subtree_control the user owns (systemd chowns them so for
 * user@UID.service and for units with Delegate=yes). Moving a process needs
 * write access to cgroup.procs of the common ancestor of its old and new
 * cgroups, so the subtree must hold the calling process: the base is the
 * highest ancestor of this process's own cgroup (from /proc/self/cgroup,
 * "0::/...") that the user owns, every directory between included.
 * Controllers bound to a cgroup v1 hierarchy (hybrid hosts) cannot be
 * delegated at all. Pure decisions take the mount, the text of
 * /proc/self/cgroup and the uid, so tests feed them fixture trees. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/cgroups.h"
#include "base/cleanup.h"
#include "base/mountinfo.h"
#include "base/probe.h"
#include "base/relpath.h"

static const struct {
    unsigned bit;
    const char *name;
} ctl_names[] = {{CGROUPS_MEMORY, "memory"}, {CGROUPS_PIDS, "pids"}, {CGROUPS_CPU, "cpu"}};

size_t cgroups_ctl_list(unsigned ctl, const char *sep, char *buf, size_t size)
{
    size_t used = 0;
    if (size)
        buf[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(ctl_names); i++)
        if ((ctl & ctl_names[i].bit) && used < size)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? sep : "", ctl_names[i].name);
    return used;
}

unsigned cgroups_ctl_parse(const char *text)
{
    unsigned ctl = 0;
    for (size_t i = 0; i < ARRAY_SIZE(ctl_names); i++) {
        size_t wl = strlen(ctl_names[i].name);
        for (const char *p = text; p && (p = strstr(p, ctl_names[i].name)); p += wl)
            if ((p == text || strchr(" \t\n", p[-1])) && (p[wl] == '\0' || strchr(" \t\n", p[wl])))
                ctl |= ctl_names[i].bit;
    }
    return ctl;
}

int cgroups_self_path(const char *text, char *out, size_t size)
{
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "0::", 3))
            continue;
        size_t len = strcspn(l + 3, "\n");
        if (len == 0 || len >= size || l[3] != '/')
            return -EINVAL;
        snprintf(out, size, "%.*s", (int)len, l + 3);
        /* The kernel's own text; still, nothing that could climb out. */
        if (len > 1 && relpath_check(out + 1, RELPATH_CANONICAL, NULL) < 0)
            return -EINVAL;
        return 0;
    }
    return -ENOENT;
}

/* uid owns path, and may write it. */
static bool owned_one(const char *path, uid_t uid)
{
    struct stat st;
    return lstat(path, &st) == 0 && st.st_uid == uid && (st.st_mode & S_IWUSR);
}

/* dir is delegated to uid: the directory (children), cgroup.procs (moves)
 * and cgroup.subtree_control (controllers for the children). */
static bool owned(const char *dir, uid_t uid)
{
    char f[CGROUPS_PATH_MAX + 32];
    if (!owned_one(dir, uid))
        return false;
    snprintf(f, sizeof(f), "%s/cgroup.procs", dir);
    if (!owned_one(f, uid))
        return false;
    snprintf(f, sizeof(f), "%s/cgroup.subtree_control", dir);
    return owned_one(f, uid);
}

int cgroups_delegated_find(const char *mnt, const char *self, uid_t uid, char *out, size_t size)
{
    size_t ml = strlen(mnt);
    char cur[CGROUPS_PATH_MAX];
    if (self[0] != '/' || (size_t)snprintf(cur, sizeof(cur), "%s%s", mnt, self) >= sizeof(cur))
        return -EINVAL;
    /* The root cgroup is never a user's. */
    if (!strcmp(self, "/") || !owned(cur, uid))
        return -ENOENT;
    /* Up while the parent is the user's too, below the root cgroup. */
    for (;;) {
        char *slash = strrchr(cur, '/');
        if (!slash || (size_t)(slash - cur) <= ml)
            break;
        *slash = '\0';
        if (!owned(cur, uid)) {
            *slash = '/';
            break;
        }
    }
    if ((size_t)snprintf(out, size, "%s", cur) >= size)
        return -EINVAL;
    return 0;
}

#define SCOPE_FIX                                                                                               \
    "start pyro inside a cgroup delegated to you: `systemd-run --user --scope -p Delegate=yes pyro ...` (your " \
    "systemd user manager must run: log in, or `loginctl enable-linger USER` as root)"

void cgroups_user_decide(const char *v2, unsigned v1_bound, const char *self_text, uid_t uid, struct cgroups_user *u)
{
    memset(u, 0, sizeof(*u));
    char names[64];
    if (v1_bound) {
        cgroups_ctl_list(v1_bound, ", ", names, sizeof(names));
        snprintf(u->why, sizeof(u->why),
                 "the host mounts %s as cgroup v1 hierarchies (hybrid), which the kernel cannot delegate to a user",
                 names);
        snprintf(u->fix, sizeof(u->fix),
                 "boot the host with the unified cgroup hierarchy (kernel option systemd.unified_cgroup_hierarchy=1, "
                 "Debian 12's default), or run pyro as root");
        if (v1_bound == CGROUPS_ALL)
            return;
    }
    if (!v2) {
        snprintf(u->why, sizeof(u->why), "no cgroup2 hierarchy is mounted");
        snprintf(u->fix, sizeof(u->fix), "mount cgroup2 (systemd does, at /sys/fs/cgroup), or run pyro as root");
        return;
    }
    char self[CGROUPS_PATH_MAX], base[CGROUPS_PATH_MAX];
    int r = cgroups_self_path(self_text, self, sizeof(self));
    if (r < 0) {
        snprintf(u->why, sizeof(u->why), "/proc/self/cgroup names no cgroup2 path for this process");
        snprintf(u->fix, sizeof(u->fix), "%s", SCOPE_FIX);
        return;
    }
    if (cgroups_delegated_find(v2, self, uid, base, sizeof(base)) < 0) {
        snprintf(u->why, sizeof(u->why),
                 "this process's cgroup %s%s is not delegated to uid %u (the directory, its cgroup.procs and "
                 "cgroup.subtree_control are not the user's)",
                 v2, strcmp(self, "/") ? self : "", (unsigned)uid);
        snprintf(u->fix, sizeof(u->fix), "%s", SCOPE_FIX);
        return;
    }
    snprintf(u->base, sizeof(u->base), "%s", base);
    char f[CGROUPS_PATH_MAX + 32], text[512];
    snprintf(f, sizeof(f), "%s/cgroup.controllers", base);
    u->ctl = probe_read_file(f, text, sizeof(text)) >= 0 ? cgroups_ctl_parse(text) & ~v1_bound : 0;
    unsigned missing = CGROUPS_ALL & ~u->ctl & ~v1_bound;
    if (!missing)
        return;
    cgroups_ctl_list(missing, ", ", names, sizeof(names));
    size_t n = strlen(u->why);
    snprintf(u->why + n, sizeof(u->why) - n, "%s%s is not delegated to %s (not in its cgroup.controllers)",
             n ? "; " : "", names, base);
    n = strlen(u->fix);
    snprintf(u->fix + n, sizeof(u->fix) - n,
             "%sas root, delegate the controllers to users with a drop-in for user@.service (`systemctl edit "
             "user@.service`: [Service] Delegate=cpu memory pids), then log in again",
             n ? "; " : "");
}

void cgroups_user_probe(struct cgroups_user *u)
{
    struct mountinfo_cgroups m;
    if (mountinfo_cgroups(MOUNTINFO_PATH, &m, NULL) < 0) {
        memset(u, 0, sizeof(*u));
        snprintf(u->why, sizeof(u->why), "cannot read %s", MOUNTINFO_PATH);
        snprintf(u->fix, sizeof(u->fix), "mount /proc");
        return;
    }
    unsigned v1 = 0;
    for (size_t i = 0; i < ARRAY_SIZE(ctl_names); i++)
        if (mountinfo_cgroup_v1(&m, ctl_names[i].name))
            v1 |= ctl_names[i].bit;
    char text[4096];
    if (probe_read_file("/proc/self/cgroup", text, sizeof(text)) < 0)
        text[0] = '\0';
    cgroups_user_decide(m.v2, v1, text, geteuid(), u);
    mountinfo_cgroups_free(&m);
}
