/* Finding QEMU and asking it what it supports, each query bounded in time
 * and output. The VM backend uses qemu_find() to locate its binary. */
#ifndef PYRO_QEMU_PROBE_H
#define PYRO_QEMU_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define QEMU_BINARY "qemu-system-x86_64"
#define QEMU_QUERY_TIMEOUT_MS 5000
#define QEMU_QUERY_MAX_OUTPUT (64 * 1024)

/* Finds name on $PATH (or takes it as is when it contains '/'); *out is a
 * malloc'ed path of an executable regular file. -ENOENT when absent. */
int qemu_find_program(const char *name, char **out, pyro_error *err);
int qemu_find(char **out, pyro_error *err);

/* Runs argv[0] (a path) with stdin from /dev/null, capturing stdout and
 * stderr together: at most max bytes are kept (*truncated says whether more
 * came), and the child is killed after timeout_ms (-PYRO_E_TIMEOUT). *out
 * is malloc'ed and NUL-terminated; *status is the exit status, or 128 +
 * signal. */
int qemu_capture(char *const argv[], int timeout_ms, size_t max, char **out, bool *truncated, int *status,
                 pyro_error *err);

struct qemu_info {
    char *path;           /* NULL when not found */
    char version[128];    /* "7.2.22" */
    char version_line[160]; /* first line of --version */
    bool microvm;         /* -machine help lists microvm */
    bool accel_kvm;       /* -accel help lists kvm */
    bool accel_tcg;       /* -accel help lists tcg */
};

/* Locates QEMU and queries version, machines and accelerators. Fails when
 * QEMU is missing or a query fails; q holds what was learnt until then. */
int qemu_probe(struct qemu_info *q, pyro_error *err);
void qemu_info_clear(struct qemu_info *q);

#endif
