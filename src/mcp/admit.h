/* Admission of tools/call workers (docs/mcp.md "Concurrency"). Two limits,
 * neither of which fails a call because of another workspace's calls:
 *
 *  - per instance: at most MCP_INSTANCE_CALLS_MAX calls on one workspace
 *    (or VM) run or wait at once; one more fails with limit_exceeded
 *    naming the workspace and the limit. status, stop and delete are never
 *    refused (they look at or end what fills the limit);
 *  - per server: past MCP_MAX_WORKERS running workers a call waits in a
 *    FIFO queue (at most MCP_QUEUE_MAX calls; one more fails with
 *    limit_exceeded) and starts when a worker ends.
 *
 * The counts are derived from the calls in flight (every session's calls
 * list), so there is no counter to drift. */
#ifndef PYRO_MCP_ADMIT_H
#define PYRO_MCP_ADMIT_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"

#define MCP_INSTANCE_CALLS_MAX 4
#define MCP_QUEUE_MAX 64

struct mcp_server;
struct mcp_call;

/* A call's admission (a member of struct mcp_call). */
struct mcp_admit_state {
    char *key;    /* "workspace <id>" or "VM <id>" it counts against, or NULL */
    json_t *args; /* while queued: its validated arguments */
    uint64_t seq; /* queue order */
};

/* Decides whether c (validated args) may start a worker now: 0 yes,
 * 1 queued (it starts later from mcp_admit_pump), < 0 refused
 * (-PYRO_E_LIMIT with a message). A call admitted once is not counted
 * against its instance's limit again. */
int mcp_admit(struct mcp_server *srv, struct mcp_call *c, json_t *args, pyro_error *err);
/* Starts queued calls, oldest first, while workers are free; start forks
 * c's worker (the roots' call_start, so the session's roots apply). A call
 * that cannot start is answered with its error through fail. */
void mcp_admit_pump(struct mcp_server *srv,
                    int (*start)(struct mcp_server *srv, struct mcp_call *c, json_t *args, pyro_error *err),
                    void (*fail)(struct mcp_call *c, const pyro_error *err));
/* Frees c's admission state (c leaves the queue). */
void mcp_admit_release(struct mcp_call *c);

#endif
