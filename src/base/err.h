/* The error object (see docs/design/error-handling.md). */
#ifndef PYRO_ERR_H
#define PYRO_ERR_H

#include <pyro/pyro.h>

/* Sets err (may be NULL) and returns code, so `return err_set(...)` is
 * one statement. code is negative: -errno or -PYRO_E_*. */
int err_set(pyro_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Like err_set with -errnum, appending ": strerror(errnum)". */
int err_errno(pyro_error *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepends context: "context: previous message". Returns err->code. */
int err_prefix(pyro_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(pyro_error *err);

#endif
