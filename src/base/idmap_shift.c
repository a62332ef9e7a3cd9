/* The install-time ownership shift of a root tree into a sandbox id range
 * (idmap.h), chosen over idmapped mounts: it costs once per install (see
 * docs/rootless.md for the measurement) instead of once per start, works
 * the same for root and for users (whose trees mmdebstrap's unshare mode
 * builds already shifted), and needs no kernel support beyond chown. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/idmap.h"

#define SHIFT_MAX_DEPTH 256
#define CAP_XATTR "security.capability"

struct shift {
    uid_t from_uid, to_uid;
    gid_t from_gid, to_gid;
    uint32_t count;
};

static bool in_range(uint32_t id, uint32_t base, uint32_t count)
{
    return id >= base && id - base < count;
}

/* Rewrites a file capability for the new owner of root: a v3 (namespaced)
 * capability whose root is the range's uid 0, which the kernel honours in
 * the sandbox's user namespace (a v2 one only where host uid 0 is mapped). */
static int caps_restore(int dirfd, const char *name, const uint8_t *raw, ssize_t len, uid_t root)
{
    struct vfs_ns_cap_data v3;
    if (len < (ssize_t)XATTR_CAPS_SZ_2)
        return 0;
    memset(&v3, 0, sizeof(v3));
    memcpy(&v3, raw, XATTR_CAPS_SZ_2);
    v3.magic_etc = (v3.magic_etc & VFS_CAP_FLAGS_EFFECTIVE) | VFS_CAP_REVISION_3;
    v3.rootid = root;
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
    return setxattr(path, CAP_XATTR, &v3, sizeof(v3), 0);
}

/* An overlayfs upper layer written without a user namespace marks opaque
 * directories with trusted.overlay.opaque; in one, overlayfs reads
 * user.overlay.opaque (the userxattr option). */
static int opaque_copy(int dirfd, const char *name)
{
    char path[64], v[8];
    snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
    ssize_t n = lgetxattr(path, "trusted.overlay.opaque", v, sizeof(v));
    if (n <= 0)
        return 0;
    return lsetxattr(path, "user.overlay.opaque", v, (size_t)n, 0);
}

static int shift_entry(const struct shift *s, int dirfd, const char *name, const struct stat *st, pyro_error *err)
{
    if (S_ISDIR(st->st_mode) && opaque_copy(dirfd, name) < 0)
        return err_errno(err, errno, "mark %s opaque for the user namespace", name);
    bool u = in_range(st->st_uid, s->from_uid, s->count), g = in_range(st->st_gid, s->from_gid, s->count);
    if (!u && !g)
        return 0;
    uid_t nu = u ? s->to_uid + (st->st_uid - s->from_uid) : st->st_uid;
    gid_t ng = g ? s->to_gid + (st->st_gid - s->from_gid) : st->st_gid;
    uint8_t caps[sizeof(struct vfs_ns_cap_data)];
    ssize_t clen = -1;
    if (S_ISREG(st->st_mode)) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
        clen = getxattr(path, CAP_XATTR, caps, sizeof(caps));
    }
    if (fchownat(dirfd, name, nu, ng, AT_SYMLINK_NOFOLLOW) < 0)
        return err_errno(err, errno, "chown %s", name);
    /* chown clears setuid and setgid bits (and the capability): put back */
    if (S_ISREG(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID)) &&
        fchmodat(dirfd, name, st->st_mode & 07777, 0) < 0)
        return err_errno(err, errno, "chmod %s", name);
    if (clen > 0 && caps_restore(dirfd, name, caps, clen, s->to_uid) < 0)
        return err_errno(err, errno, "restore the file capability of %s", name);
    return 0;
}

/* Shifts every entry below dirfd, children before their directory. */
static int shift_dir(const struct shift *s, int dirfd, int depth, pyro_error *err)
{
    if (depth > SHIFT_MAX_DEPTH)
        return err_set(err, -ELOOP, "tree deeper than %d levels", SHIFT_MAX_DEPTH);
    int dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    if (dup < 0)
        return err_errno(err, errno, "dup");
    _cleanup_closedir_ DIR *d = fdopendir(dup);
    if (!d) {
        close(dup);
        return err_errno(err, errno, "opendir");
    }
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return err_errno(err, errno, "stat %s", de->d_name);
        if (S_ISDIR(st.st_mode)) {
            _cleanup_close_ int sub = openat(dirfd, de->d_name,
                                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
            if (sub < 0)
                return err_errno(err, errno, "open %s", de->d_name);
            int r = shift_dir(s, sub, depth + 1, err);
            if (r < 0)
                return err_prefix(err, "%s", de->d_name);
        }
        int r = shift_entry(s, dirfd, de->d_name, &st, err);
        if (r < 0)
            return r;
    }
    if (errno)
        return err_errno(err, errno, "readdir");
    return 0;
}

int idmap_shift_tree(const char *path, uid_t from_uid, gid_t from_gid, uid_t to_uid, gid_t to_gid, uint32_t count,
                     pyro_error *err)
{
    struct shift s = {from_uid, to_uid, from_gid, to_gid, count};
    if ((in_range(to_uid, from_uid, count) || in_range(from_uid, to_uid, count)) && from_uid != to_uid)
        return err_set(err, -PYRO_E_INVALID, "id ranges %u and %u of %u ids overlap", (unsigned)from_uid,
                       (unsigned)to_uid, count);
    if (from_uid == to_uid && from_gid == to_gid)
        return 0;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open %s", path);
    int r = shift_dir(&s, fd, 0, err);
    if (r < 0)
        return err_prefix(err, "shift the ownership of %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return err_errno(err, errno, "stat %s", path);
    bool u = in_range(st.st_uid, from_uid, count), g = in_range(st.st_gid, from_gid, count);
    if ((u || g) && fchownat(fd, "", u ? to_uid + (st.st_uid - from_uid) : st.st_uid,
                             g ? to_gid + (st.st_gid - from_gid) : st.st_gid, AT_EMPTY_PATH) < 0)
        return err_errno(err, errno, "chown %s", path);
    return 0;
}

bool idmap_tree_shifted(const char *path, uid_t to_uid)
{
    struct stat st;
    return lstat(path, &st) == 0 && st.st_uid == to_uid;
}
