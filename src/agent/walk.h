/* The one directory walker of the agent (file_list, manifest; tar_out
 * reads names with it): depth first, names sorted, symlinks never
 * followed, a bounded number of entries and depth. */
#ifndef PYRO_AGENT_WALK_H
#define PYRO_AGENT_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "base/err.h"

/* The names in a directory (not . and ..), sorted, NULL-terminated
 * (strv_free). */
int walk_read_names(int dirfd, char ***out, pyro_error *err);

struct walk {
    size_t max;    /* entries visited at most; then truncated is set */
    int depth_max; /* directories below this depth are not entered */
    bool recursive;
    /* Called for each entry: dirfd/name locate it, path is rel joined with
     * name. Returns 1 when the entry counts, 0 to skip it (it vanished),
     * < 0 to stop the walk with that error. */
    int (*visit)(struct walk *w, int dirfd, const char *name, const char *path, const struct stat *st, pyro_error *err);
    void *userdata;
    size_t count;
    bool truncated;
};

/* Walks the directory dirfd, whose entries' paths start with rel ("" or
 * "." for none). */
int walk_run(struct walk *w, int dirfd, const char *rel, pyro_error *err);

#endif
