/* The one /proc/self/mountinfo parser (proc(5)): used by the sandbox
 * backend to place its cgroups and by doctor to report them, so both see
 * the same mounts. Fields the kernel escapes (root, mount point, fs type,
 * source: space, tab, newline and backslash as \ooo) are unescaped. */
#ifndef PYRO_BASE_MOUNTINFO_H
#define PYRO_BASE_MOUNTINFO_H

#include <stdbool.h>

#include "base/err.h"

#define MOUNTINFO_PATH "/proc/self/mountinfo"
#define MOUNTINFO_MAX_LINES 65536
#define MOUNTINFO_LINE_MAX (64 * 1024)

struct mountinfo_entry {
    int id, parent;
    unsigned major, minor;
    char *root;
    char *mount_point;
    char *mount_opts;
    char *fstype;
    char *source;
    char *super_opts;
};

/* Splits one line (without or with its newline) in place; the fields point
 * into line. Returns 0, or -PYRO_E_INVALID for a malformed line. */
int mountinfo_parse_line(char *line, struct mountinfo_entry *e);

/* Calls fn for every well-formed entry of the file at path (malformed
 * lines are skipped); fn returns 0 to go on, > 0 to stop, < 0 to fail with
 * that code. Returns 0, fn's code, -errno, or -PYRO_E_LIMIT past
 * MOUNTINFO_MAX_LINES lines or a line longer than MOUNTINFO_LINE_MAX. */
int mountinfo_each(const char *path, int (*fn)(const struct mountinfo_entry *e, void *ctx), void *ctx, pyro_error *err);

/* True when word is one of the comma-separated options of opts. */
bool mountinfo_opt_has(const char *opts, const char *word);

/* Detaches (umount2 MNT_DETACH) every mount at or below dir, as the mount
 * table at path (MOUNTINFO_PATH) lists them, children before their parents.
 * dir is compared with the unescaped mount points. Returns 0 or the first
 * failure; a mount already gone (EINVAL, ENOENT) is not one. */
int mountinfo_unmount_below(const char *path, const char *dir, pyro_error *err);

/* Where the cgroup hierarchies are mounted. */
#define MOUNTINFO_CGROUP_V1_MAX 16
struct mountinfo_cgroups {
    char *v2;             /* a cgroup2 mount (/sys/fs/cgroup when mounted there too); NULL when none */
    char *v2_controllers; /* v2's cgroup.controllers, words separated by spaces; NULL when unreadable */
    int v1_count;         /* v1 hierarchies: mount point and super options (the controllers) */
    char *v1_mount[MOUNTINFO_CGROUP_V1_MAX];
    char *v1_opts[MOUNTINFO_CGROUP_V1_MAX];
};

/* Reads the cgroup and cgroup2 mounts of the mountinfo file at path (and
 * the cgroup2 root's cgroup.controllers). Returns 0 or a negative code. */
int mountinfo_cgroups(const char *path, struct mountinfo_cgroups *out, pyro_error *err);
void mountinfo_cgroups_free(struct mountinfo_cgroups *m);
/* The first v1 hierarchy carrying controller, or NULL. */
const char *mountinfo_cgroup_v1(const struct mountinfo_cgroups *m, const char *controller);
/* True when the cgroup2 root lists controller in cgroup.controllers. */
bool mountinfo_cgroup_v2_has(const struct mountinfo_cgroups *m, const char *controller);

#endif
