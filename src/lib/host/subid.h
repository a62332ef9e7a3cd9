/* Subordinate ids and the root id pool as doctor sees them: every range of
 * /etc/subuid and /etc/subgid, a user's usable range (through
 * idmap_subid_find, as idmap_resolve finds it), the first free range to
 * suggest in a fix, and what the root pool overlaps. Files are arguments so
 * that tests feed fixtures. */
#ifndef PYRO_SUBID_H
#define PYRO_SUBID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/idmap.h"

/* Where useradd starts subordinate ranges (SUB_UID_MIN, SUB_GID_MIN). */
#define SUBID_MIN 100000ul
/* Lines of a subuid/subgid file read at most. */
#define SUBID_MAX_RANGES 4096

/* Reads the "owner:start:count" lines of a subuid or subgid file into a
 * malloc'ed *out (malformed lines and ranges of 0 ids skipped; at most
 * SUBID_MAX_RANGES). Returns 0 (an absent file holds no ranges) or -errno. */
int subid_ranges_read(const char *file, struct idmap_subid **out, size_t *n);

bool subid_overlap(unsigned long a, unsigned long acount, unsigned long b, unsigned long bcount);

/* The lowest start >= min such that [start, start + count) overlaps none of
 * the ranges. */
unsigned long subid_free_start(const struct idmap_subid *r, size_t n, unsigned long min, uint32_t count);

/* One user's standing in one file. */
struct subid_file_eval {
    bool ok;             /* a range of at least IDMAP_COUNT ids: start */
    unsigned long start; /* the one idmap_resolve maps to */
    bool any;            /* some range, however small */
    int error;           /* errno when the file could not be read */
};

/* The user called name with uid (a name of NULL matches the uid only) in
 * the subuid and subgid files; subgid entries are keyed by the user, as
 * newgidmap reads them. */
void subid_user_eval(const char *subuid, const char *subgid, const char *name, unsigned long uid,
                     struct subid_file_eval *u, struct subid_file_eval *g);

/* The names (or uids, as written) of the users in the user database with a
 * range of at least IDMAP_COUNT ids in both files, ", "-separated into buf;
 * returns how many there are. */
size_t subid_ready_users(const char *subuid, const char *subgid, char *buf, size_t size);

/* What [base, base + count) overlaps: ranges of the subuid and subgid files,
 * uids of passwd and gids of group entries (files in fgetpwent format, or
 * NULL for the system's database). Up to max descriptions ("subuid range of
 * alice 1879048192-1879113727", "uid 1879048200 (bob)") go into out, each of
 * at most 96 bytes; returns the number of overlaps, and *next the first id
 * after all of them (a base to try next). */
#define SUBID_OVERLAP_TEXT 96
size_t subid_pool_overlaps(unsigned long base, uint32_t count, const char *subuid, const char *subgid,
                           const char *passwd, const char *group, char (*out)[SUBID_OVERLAP_TEXT], size_t max,
                           unsigned long *next);

#endif
