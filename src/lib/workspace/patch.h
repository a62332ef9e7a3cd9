/* Unified diffs read and applied exactly: several files per patch,
 * creations (--- /dev/null) and deletions (+++ /dev/null), hunks in order,
 * every context and removed line compared byte for byte at the line number
 * the hunk states (no offset search, no fuzz). Nothing here touches files:
 * callers read each target, apply, and write only when every file applied. */
#ifndef PYRO_PATCH_H
#define PYRO_PATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct patch_line {
    char op; /* ' ', '-', '+' */
    const char *text;
    size_t len;
    bool nl;
};

struct patch_hunk {
    long old_start, old_len, new_start, new_len;
    struct patch_line *lines;
    size_t nlines;
};

struct patch_file {
    char *old_path; /* NULL: /dev/null (a creation) */
    char *new_path; /* NULL: /dev/null (a deletion) */
    struct patch_hunk *hunks;
    size_t nhunks;
};

struct patch_set {
    struct patch_file *files;
    size_t nfiles;
};

/* Parses text (which must outlive ps). "a/" and "b/" prefixes are dropped
 * from paths; "diff --git", "index" and other header lines are skipped. */
int patch_parse(const char *text, size_t len, struct patch_set *ps, pyro_error *err);
void patch_set_free(struct patch_set *ps);
/* The path a file entry changes (new_path, or old_path for a deletion). */
const char *patch_file_path(const struct patch_file *pf);
/* Applies pf's hunks to content (exists false: the file is absent). On
 * success *out (malloc'ed, *out_len bytes) is the new content; errors name
 * the file and the hunk and say which line differed. */
int patch_apply_file(const struct patch_file *pf, bool exists, const char *content, size_t len, char **out,
                     size_t *out_len, pyro_error *err);

#endif
