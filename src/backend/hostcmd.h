/* Running the host's ip(8) and nft(8) for the backends' networking. */
#ifndef PYRO_BACKEND_HOSTCMD_H
#define PYRO_BACKEND_HOSTCMD_H

#include "base/err.h"

/* Runs argv[0] (an absolute path) without a shell; stdout (up to a bound)
 * goes to *out when out is not NULL. A non-zero exit is an error whose
 * message carries the command and its stderr. */
int hostcmd_run(char *const *argv, char **out, pyro_error *err);
/* The absolute path of a system tool (ip, nft) or NULL. */
const char *hostcmd_find(const char *name);

#endif
