/* Confining paths beneath a directory: the one primitive behind the agent's
 * paths beneath its roots (agent/fspath.c) and the host-path policy
 * (docs/threat-model.md "Host paths"; lib/host/hostpaths.h applies it to
 * the paths MCP callers name).
 *
 * A path is first made canonical (realpath, or confine_normalize when it
 * does not exist yet), compared with the root as text, and then opened
 * again beneath an fd of the root, so that a component swapped for a
 * symlink in between cannot lead out: openat2() with RESOLVE_BENEATH and
 * RESOLVE_NO_MAGICLINKS, or, where the kernel lacks openat2 (before 5.6),
 * one component at a time with O_NOFOLLOW. */
#ifndef PYRO_CONFINE_H
#define PYRO_CONFINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The absolute form of path (relative ones are taken from the working
 * directory) with empty and "." components dropped and ".." removing the
 * component before it, as text: symlinks are not looked at. A trailing
 * slash is dropped. NULL only when the working directory is unknown. */
char *confine_normalize(const char *path);

/* Where path leads, as realpath() would say, but also for a path whose
 * end does not exist: symlinks are followed, dangling ones by their text,
 * and the missing rest is taken as written. NULL after 40 symlinks or when
 * the working directory is unknown. */
char *confine_resolve(const char *path);

/* Whether path is root or lies beneath it (both canonical, as text).
 * *rel (optional) gets the rest of path: "" for root itself, else the part
 * after "root/". */
bool confine_beneath(const char *root, const char *path, const char **rel);

/* Opens rel (relative; "" is dirfd's directory itself) beneath dirfd: no
 * "..", symlink or magic link may lead out of it. flags and mode as for
 * openat(); O_CLOEXEC is added. Returns the fd, or -errno: -EXDEV or
 * -ELOOP when resolution would leave dirfd. */
int confine_openat(int dirfd, const char *rel, int flags, mode_t mode);
/* confine_openat with more RESOLVE_* flags for openat2 (RESOLVE_NO_SYMLINKS:
 * no symlink at all on the way). The fallback walk follows no symlink
 * whatever the flags. */
int confine_openat_resolve(int dirfd, const char *rel, int flags, mode_t mode, uint64_t extra_resolve);

#endif
