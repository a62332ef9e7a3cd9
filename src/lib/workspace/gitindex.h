/* The paths a git checkout tracks, read from its index file without
 * running git (docs/threat-model.md "Host paths"): git honours the
 * repository's own configuration (core.fsmonitor, hooks, filters, a pager)
 * and would run those commands on the host, as root when pyro runs as
 * root. The index format (git's Documentation/gitformat-index.txt):
 * versions 2, 3 and 4 (path prefix compression), SHA-1 or SHA-256 object
 * names, extensions skipped; a split index (core.splitIndex) is refused
 * with a clear message. The index is untrusted input: every length is
 * checked against the file. */
#ifndef PYRO_GITINDEX_H
#define PYRO_GITINDEX_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"

/* Largest index file read. */
#define GITINDEX_MAX_BYTES (256u * 1024 * 1024)

/* Parses an index held in memory: *paths gets an array of the tracked
 * paths (stage entries of a conflict appear once each), in index order. */
int gitindex_parse(const unsigned char *buf, size_t len, json_t **paths, pyro_error *err);

/* The tracked paths of the checkout open at dirfd: its .git directory's
 * index, or, for a linked worktree or submodule (.git is a file), the index
 * of the "gitdir:" it names. A checkout without an index tracks nothing. */
int gitindex_tracked(int dirfd, json_t **paths, pyro_error *err);

#endif
