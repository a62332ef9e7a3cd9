/* The one relative-path checker. Every path that names something beneath
 * a root (agent file ops, tar entries in the guest, archive members and
 * guest paths on the host, artifact paths of an environment, cgroup
 * parents) goes through relpath_parse, so the rules exist once:
 *
 *   - not absolute, no ".." component, no NUL byte;
 *   - at most RELPATH_MAX bytes and RELPATH_DEPTH_MAX components;
 *   - empty and "." components are dropped ("./a//b/" is "a/b") unless the
 *     caller asks for the canonical form, which refuses them;
 *   - a path naming the root itself ("", ".", "./") only where the caller
 *     says so.
 *
 * The checks are lexical: they keep a name from climbing out of its root,
 * and the agent then resolves it with openat2(RESOLVE_BENEATH) so symlinks
 * inside the tree cannot either. */
#ifndef PYRO_BASE_RELPATH_H
#define PYRO_BASE_RELPATH_H

#include <stddef.h>

#include "base/err.h"

#define RELPATH_MAX 4095      /* bytes: PATH_MAX less its NUL */
#define RELPATH_DEPTH_MAX 256 /* components after normalisation */

enum relpath_flags {
    RELPATH_EMPTY_ROOT = 1u << 0, /* "" names the root (an argument that defaults to "") */
    RELPATH_DOT_ROOT = 1u << 1,   /* ".", "./", "./." name the root */
    RELPATH_CANONICAL = 1u << 2,  /* refuse empty and "." components and a trailing slash */
};
#define RELPATH_ROOT (RELPATH_EMPTY_ROOT | RELPATH_DOT_ROOT)

/* Checks path[0..len) against the rules above. With out, *out gets the
 * normalised form (malloc'ed; "" for the root). Returns 0 or
 * -PYRO_E_INVALID with a message naming the broken rule; *out is then
 * NULL. */
int relpath_parse(const char *path, size_t len, unsigned flags, char **out, pyro_error *err);
/* relpath_parse of a C string, without the normalised copy. */
int relpath_check(const char *path, unsigned flags, pyro_error *err);
/* relpath_parse of a C string into *out. */
int relpath_normalize(const char *path, unsigned flags, char **out, pyro_error *err);

/* A symlink at link (a relative path beneath the root) whose target is
 * target stays inside: the target is relative, not empty, and read from
 * the link's directory never climbs above the root with "..". */
int relpath_link_check(const char *link, const char *target, pyro_error *err);

#endif
