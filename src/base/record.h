/* Durable records: atomic writes (temp file, fsync, rename, fsync of the
 * directory) and a strict, bounded loader for JSON records. */
#ifndef PYRO_RECORD_H
#define PYRO_RECORD_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

/* Largest record file accepted by the loader. */
#define PYRO_RECORD_MAX (8u * 1024 * 1024)

/* Replaces dirfd/name with data atomically: readers see the old or the new
 * content, never a mix, and after return the new content survives a crash. */
int write_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode, pyro_error *err);
int write_atomic(const char *path, const void *data, size_t len, mode_t mode, pyro_error *err);
/* Flags of the _flags variants. PYRO_WRITE_NOSYNC: atomic against killed
 * processes (rename), but not durable across a power loss: for files that
 * describe live processes only, which a reboot ends anyway. */
#define PYRO_WRITE_NOSYNC 1u
int write_atomic_at_flags(int dirfd, const char *name, const void *data, size_t len, mode_t mode, unsigned flags,
                          pyro_error *err);

/* Parses a record: a JSON object, at most PYRO_RECORD_MAX bytes, no
 * duplicate keys, valid UTF-8; when "schema_version" is present it must be a
 * positive integer. This is the fuzzed entry point. */
int record_parse(const char *buf, size_t len, json_t **out, pyro_error *err);
/* Loads path (not following a final symlink, regular files only). */
int record_load(const char *path, json_t **out, pyro_error *err);
int record_load_at(int dirfd, const char *name, json_t **out, pyro_error *err);
/* record_load, but a missing file is -ENOENT with err untouched (state a
 * crash may have left, or not). */
int record_load_existing(const char *path, json_t **out, pyro_error *err);
/* Writes rec as indented JSON with a trailing newline, atomically, 0600. */
int record_save(const char *path, const json_t *rec, pyro_error *err);
int record_save_flags(const char *path, const json_t *rec, unsigned flags, pyro_error *err);
int record_save_at(int dirfd, const char *name, const json_t *rec, pyro_error *err);

/* Reads a whole regular file up to max bytes (error when larger). */
int read_file_at(int dirfd, const char *name, size_t max, char **out, size_t *out_len, pyro_error *err);

#endif
