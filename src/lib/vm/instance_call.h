/* Requests to an instance's agent through its monitor: the control socket
 * speaks the agent protocol, so the ordinary agent client is used. */
#ifndef PYRO_INSTANCE_CALL_H
#define PYRO_INSTANCE_CALL_H

#include <jansson.h>

#include "base/err.h"
#include "lib/vm/agent_client.h"
#include "lib/vm/instance.h"

/* Connects to the running instance and completes the handshake. */
int instance_agent_open(const struct instance *inst, struct agent_conn **out, pyro_error *err);
/* One request {op, args}; *result gets the result object. Closing the
 * connection (for example when the caller is killed) makes the monitor
 * kill a running exec. */
int instance_call(const struct instance *inst, const char *op, json_t *args, int timeout_ms, json_t **result,
                  pyro_error *err);

#endif
