/* A deterministic tar of a tree (oci_tar.c), the layer of a pushed image. */
#ifndef PYRO_ENV_OCI_TAR_H
#define PYRO_ENV_OCI_TAR_H

#include <stdint.h>

#include "base/err.h"

/* Writes the tree below rootfd (not the root itself) to outfd as a
 * gzipped pax tar (deterministic: no timestamp in the gzip header);
 * diff_id gets "sha256:" and the digest of the uncompressed tar. */
int oci_tar_tree(int rootfd, int outfd, char diff_id[72], int64_t *entries, pyro_error *err);

#endif
