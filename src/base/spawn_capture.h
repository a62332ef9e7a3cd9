/* Running helper programs: found on $PATH, bounded in time and output. */
#ifndef PYRO_SPAWN_CAPTURE_H
#define PYRO_SPAWN_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

/* Finds name on $PATH (or takes it as is when it contains '/'); *out is a
 * malloc'ed path of an executable regular file. -ENOENT when absent. */
int proc_find_program(const char *name, char **out, pyro_error *err);

/* Runs argv[0] (a path) with stdin from /dev/null, capturing stdout and
 * stderr together: at most max bytes are kept (*truncated says whether more
 * came), and the child is killed after timeout_ms (-PYRO_E_TIMEOUT). *out
 * is malloc'ed and NUL-terminated; *status is the exit status, or 128 +
 * signal. */
int proc_capture(char *const argv[], int timeout_ms, size_t max, char **out, bool *truncated, int *status,
                 pyro_error *err);

#endif
