/* The fixture the agent tests share: the real pyro-agent (the dynamic
 * build, non-init mode) started over a socketpair, libpyro's client
 * connected to it after the handshake, and a scratch directory as the
 * root for path operations. */
#ifndef PYRO_TEST_AGENT_FIXTURE_H
#define PYRO_TEST_AGENT_FIXTURE_H

#include <sys/types.h>

#include "lib/vm/agent_client.h"

#define T_MS 20000

struct fx {
    pid_t pid;
    struct agent_conn *c;
    char root[64];
};

/* Starts pyro-agent-dyn --no-init on a socketpair; *host_fd gets the host
 * end. Returns the pid, or -1. */
pid_t agent_fx_spawn(int *host_fd);
/* cmocka setup/teardown: *state is a struct fx. Teardown closes the
 * channel (which ends a non-init agent), reaps it and removes root. */
int agent_fx_setup(void **state);
int agent_fx_teardown(void **state);

#endif
