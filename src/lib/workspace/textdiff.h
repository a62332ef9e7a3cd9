/* Line diffs: Myers' O((N+M)D) algorithm, bounded by the number of edits,
 * rendered as unified diff hunks with three lines of context (the format
 * patch.h reads back). A line is its bytes and whether a newline ends it,
 * so a missing newline at the end of a file is a difference and is shown
 * as "\ No newline at end of file". */
#ifndef PYRO_TEXTDIFF_H
#define PYRO_TEXTDIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct td_line {
    const char *p;
    size_t len; /* without the newline */
    bool nl;    /* a newline ends the line */
};

/* Splits buf into lines (pointing into buf); *out is malloc'ed. */
size_t td_split(const char *buf, size_t len, struct td_line **out);
bool td_line_eq(const struct td_line *x, const struct td_line *y);

/* Default bound on the edits (inserted plus deleted lines) of one diff. */
#define TEXTDIFF_MAX_EDITS 4000

struct textdiff_stats {
    size_t added, removed, hunks;
};

/* Writes "--- old_label\n+++ new_label\n" and the hunks turning a into b
 * to f (nothing when they are equal). Returns 0, or -PYRO_E_LIMIT (nothing
 * written) when more than max_edits lines change. */
int textdiff_unified(FILE *f, const char *a, size_t alen, const char *b, size_t blen, const char *old_label,
                     const char *new_label, int max_edits, struct textdiff_stats *stats);

#endif
