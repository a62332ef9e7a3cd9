#include "lib/vm/instance_call.h"

#include "base/cleanup.h"
#include "base/json.h"

#define INSTANCE_HELLO_TIMEOUT_MS 10000

int instance_agent_open(const struct instance *inst, struct agent_conn **out, pyro_error *err)
{
    int fd = instance_connect(inst, err);
    if (fd < 0)
        return fd;
    return agent_conn_open(fd, INSTANCE_HELLO_TIMEOUT_MS, out, err);
}

int instance_call(const struct instance *inst, const char *op, json_t *args, int timeout_ms, json_t **result,
                  pyro_error *err)
{
    struct agent_conn *c = NULL;
    int r = instance_agent_open(inst, &c, err);
    if (r < 0)
        return r;
    json_auto_t *req = json_pack("{s:s, s:O}", "op", op, "args", args);
    r = agent_call(c, req, NULL, 0, result, NULL, timeout_ms, err);
    agent_conn_close(c);
    return r;
}
