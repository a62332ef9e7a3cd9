/* Bounded host probes: run a capability test in a forked child with a
 * deadline, and read small kernel files. Used by doctor and by the
 * accelerator choice; nothing here changes host state beyond the child. */
#ifndef PYRO_PROBE_H
#define PYRO_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

/* Runs fn(arg) in a forked child and waits at most timeout_ms for it.
 * fn runs after fork() and must use only async-signal-safe calls (raw
 * syscalls); its return value (0..255) becomes the child's exit status and
 * lands in *status. A child killed by a signal gives 128 + signo. Returns 0,
 * -PYRO_E_TIMEOUT (the child was killed) or -errno when fork failed. */
int probe_run(int (*fn)(void *arg), void *arg, int timeout_ms, int *status, pyro_error *err);

/* Reads at most size-1 bytes of a small file into buf, NUL-terminated, the
 * trailing newline removed. Returns the length or -errno. */
int probe_read_file(const char *path, char *buf, size_t size);
/* Reads a file holding one integer (a sysctl). Returns 0 or -errno. */
int probe_read_long(const char *path, long *out);
/* True when the whitespace-separated word appears in the file's text
 * (at most the first 64 KiB). */
bool probe_file_has_word(const char *path, const char *word);

#endif
