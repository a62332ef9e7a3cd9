/* Process identity that survives pid reuse: a pid plus its start time. */
#ifndef PYRO_PROC_H
#define PYRO_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Start time of pid in clock ticks since boot (/proc/PID/stat field 22),
 * or -1 when the process does not exist. */
int64_t proc_start_time(pid_t pid);
/* True when pid runs and started at start_time (not a reused pid). */
bool proc_alive(pid_t pid, int64_t start_time);

/* In a child between fork (or clone) and exec: no signal blocked, every
 * disposition the default (exec keeps SIG_IGN otherwise). Async-signal-safe:
 * system calls only. */
void proc_signals_default(void);

#endif
