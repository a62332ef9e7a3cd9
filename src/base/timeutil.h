/* Monotonic time for durations and deadlines, wall time for records. */
#ifndef PYRO_TIMEUTIL_H
#define PYRO_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t time_mono_ns(void);
int64_t time_mono_ms(void);
int64_t time_wall_ms(void);
/* RFC 3339 UTC with milliseconds: 2026-11-26T05:46:27.123Z (24 chars). */
#define PYRO_TIME_ISO_LEN 32
void time_iso(char buf[PYRO_TIME_ISO_LEN], int64_t wall_ms);
/* Parses what time_iso writes (and the same without fraction);
 * returns -1 when malformed. */
int64_t time_parse_iso(const char *s);

#endif
