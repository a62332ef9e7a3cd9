/* Host side of moving trees in and out of a workspace (docs/workspaces.md).
 *
 * One safe import path for seeding and sync push: a host directory (walked
 * without following symlinks) or a .tar/.tar.gz/.tgz archive (libarchive,
 * tar format and gzip filter only) becomes a fresh tar stream in which every
 * entry was checked (names and symlink targets with base/relpath.h): no
 * absolute path, no "..", regular files, directories
 * and symlinks only (hard links to files of the same archive), symlink
 * targets relative and inside, nothing beneath a symlink of the archive,
 * entry count and expanded size bounded (decompression bombs are refused
 * from their headers). Only then is the stream sent to the agent's tar_in,
 * which checks every entry again in the guest. */
#ifndef PYRO_WS_ARCHIVE_H
#define PYRO_WS_ARCHIVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

#define WS_IMPORT_MAX_ENTRIES 100000
#define WS_IMPORT_MAX_BYTES (1024LL * 1024 * 1024)

struct ws_import_limits {
    long long max_entries;
    long long max_bytes;
};

/* Writes the checked tar stream of source (a directory or an archive) to
 * out_fd. *stats (optional) gets {kind, entries, bytes, skipped}; kind is
 * "directory" or "tar_archive". Nothing is written to the guest here. */
int ws_archive_build(const char *source, int out_fd, const struct ws_import_limits *lim, json_t **stats,
                     pyro_error *err);
/* The same for a source already open at src_fd (a directory, or a regular
 * file whose name, source, ends in .tar, .tar.gz or .tgz). */
int ws_archive_build_fd(int src_fd, const char *source, int out_fd, const struct ws_import_limits *lim, json_t **stats,
                        pyro_error *err);

/* The same for the git checkout open at dir_fd: only the files its index
 * tracks (read without running git: lib/workspace/gitindex.h), the
 * directories above them and .git itself; kind "git_checkout", and
 * untracked_skipped counts what was left out (build trees, caches). */
int ws_archive_build_git(int dir_fd, const char *checkout, int out_fd, const struct ws_import_limits *lim,
                         json_t **stats, pyro_error *err);

/* Content of regular files of a tar file, looked up by name. */
struct ws_blob {
    const char *name; /* in: the member name (relative, no "./") */
    char *data;       /* out: malloc'ed, NULL when not found */
    size_t len;
    bool found, too_large;
};
int ws_archive_lookup(const char *tar_path, struct ws_blob *blobs, size_t n, size_t max_each, pyro_error *err);

/* Reads the only member of the tar stream in tar_fd, as tar_out gives for
 * one file: a regular file's content is written to out_fd (*perm gets its
 * permission bits, *bytes its size); a symlink's target is returned in
 * *link_target (malloc'ed), for the caller to create. */
int ws_archive_extract_single(int tar_fd, int out_fd, char **link_target, mode_t *perm, long long *bytes,
                              pyro_error *err);

#endif
