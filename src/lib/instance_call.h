/* Blocking requests to an instance's agent through its monitor. */
#ifndef PYRO_INSTANCE_CALL_H
#define PYRO_INSTANCE_CALL_H

#include <jansson.h>

#include "err.h"
#include "instance.h"

/* Sends {op, args} and waits up to timeout_ms for the response; *result is
 * the response's "result" object. Closing the connection (for example when
 * the caller is killed) makes the monitor kill a running exec. */
int instance_call(const struct instance *inst, const char *op, json_t *args, int timeout_ms, json_t **result,
                  pyro_error *err);

#endif
