/* One lock per directory: flock(2) on <dir>/.lock. The kernel drops the
 * lock when the holder dies, so a killed client never leaves it stuck. */
#ifndef PYRO_LOCK_H
#define PYRO_LOCK_H

#include "base/err.h"

enum { PYRO_LOCK_EXCLUSIVE = 0, PYRO_LOCK_SHARED = 1 };

/* Takes the lock of dir and returns its fd (close it to release).
 * timeout_ms < 0 waits forever, 0 tries once (-PYRO_E_BUSY when held). */
int dirlock(const char *dir, int mode, int timeout_ms, pyro_error *err);
int dirlock_at(int dirfd, int mode, int timeout_ms, pyro_error *err);

#endif
