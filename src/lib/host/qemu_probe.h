/* Finding QEMU and asking it what it supports, each query bounded in time
 * and output. The VM backend uses qemu_find() to locate its binary. */
#ifndef PYRO_QEMU_PROBE_H
#define PYRO_QEMU_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define QEMU_BINARY "qemu-system-x86_64"
#define QEMU_QUERY_TIMEOUT_MS 5000
#define QEMU_QUERY_MAX_OUTPUT (64 * 1024)

/* The VM backend's binary on $PATH (proc_find_program). */
int qemu_find(char **out, pyro_error *err);

struct qemu_info {
    char *path;             /* NULL when not found */
    char version[128];      /* "7.2.22" */
    char version_line[160]; /* first line of --version */
    bool microvm;           /* -machine help lists microvm */
    bool accel_kvm;         /* -accel help lists kvm */
    bool accel_tcg;         /* -accel help lists tcg */
};

/* Locates QEMU and queries version, machines and accelerators. Fails when
 * QEMU is missing or a query fails; q holds what was learnt until then. */
int qemu_probe(struct qemu_info *q, pyro_error *err);
void qemu_info_clear(struct qemu_info *q);

#endif
