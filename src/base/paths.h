/* Where pyro keeps things.
 *   state dir: $PYRO_HOME, else $XDG_STATE_HOME/pyro, else ~/.local/state/pyro
 *   cache dir: $PYRO_CACHE_DIR, else $XDG_CACHE_HOME/pyro, else ~/.cache/pyro
 * Relative values of the XDG variables are ignored, as the XDG spec says. */
#ifndef PYRO_PATHS_H
#define PYRO_PATHS_H

#include <sys/types.h>

#include "base/err.h"

int paths_state_dir_resolve(char **out, pyro_error *err);
int paths_cache_dir_resolve(char **out, pyro_error *err);
/* mkdir -p with mode for the directories it creates. */
int mkdir_p(const char *path, mode_t mode, pyro_error *err);
/* rm -rf below dirfd/name without following symlinks; ENOENT is success. */
int rm_rf_at(int dirfd, const char *name, pyro_error *err);
int rm_rf(const char *path, pyro_error *err);

#endif
