/* The channel to an instance: its monitor's control socket, which speaks
 * the agent protocol. */
#include "lib/vm/instance_call.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"

#define INSTANCE_HELLO_TIMEOUT_MS 10000

/* Connects to the running monitor: a fd speaking the agent protocol. */
static int instance_connect(const struct instance *inst, pyro_error *err)
{
    _cleanup_close_ int dfd = open(inst->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_errno(err, errno, "open %s", inst->dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/control.sock", dfd);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_errno(err, errno, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return err_set(err, -PYRO_E_STATE, "%s is not running (control socket: %s)", inst->id, strerror(e));
    }
    return fd;
}

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
