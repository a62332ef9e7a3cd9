/* A small streaming tar writer and a safe streaming tar extractor for the
 * agent (no libarchive in the guest). Archives are POSIX ustar with pax
 * extended headers for long names and large sizes; the extractor also
 * reads GNU long-name entries. */
#ifndef PYRO_AGENT_TAR_H
#define PYRO_AGENT_TAR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define TAR_BLOCK 512u

struct tarw;
/* Starts an archive of rootfd/path (confined beneath rootfd). A directory
 * contributes its contents, named relative to it; a file or symlink one
 * entry named by its last component. Other file types are skipped. */
int tarw_open(int rootfd, const char *path, uint64_t max_bytes, struct tarw **out, pyro_error *err);
/* Fills up to cap bytes of archive; returns bytes, 0 at the end, < 0 on
 * error (-PYRO_E_LIMIT past max_bytes). */
ssize_t tarw_read(struct tarw *w, uint8_t *buf, size_t cap, pyro_error *err);
uint64_t tarw_entries(const struct tarw *w);
uint64_t tarw_skipped(const struct tarw *w);
void tarw_free(struct tarw *w);

struct tarx;
/* Extracts into destfd (an O_PATH directory). Names and link targets are
 * checked with base/relpath.h. Refuses absolute names, "..",
 * device nodes, fifos, links that leave the destination, and writing
 * through any symlink; stops at max_entries entries or max_bytes of file
 * data. */
struct tarx *tarx_new(int destfd, uint64_t max_entries, uint64_t max_bytes);
int tarx_feed(struct tarx *x, const uint8_t *buf, size_t len, pyro_error *err);
/* Checks the archive ended on an entry boundary. */
int tarx_finish(struct tarx *x, pyro_error *err);
uint64_t tarx_entries(const struct tarx *x);
uint64_t tarx_bytes(const struct tarx *x);
void tarx_free(struct tarx *x);

#endif
