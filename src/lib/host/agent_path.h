/* Where the static pyro-agent is on this host. */
#ifndef PYRO_AGENT_PATH_H
#define PYRO_AGENT_PATH_H

#include "base/err.h"

/* Host path of the static pyro-agent: $PYRO_AGENT, else next to the
 * running binary, else the installed libexec directory. */
int host_agent_path(char **out, pyro_error *err);

#endif
