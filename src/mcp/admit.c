/* Per-instance limits and the worker queue of the MCP server (admit.h). */
#include "mcp/admit.h"

#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "mcp/mcp.h"

/* Operations that only read or end an instance's state: never refused by
 * the per-instance limit, so a workspace full of long commands can always
 * be looked at, stopped and deleted. */
static const char *const admit_exempt[] = {"workspace_status", "workspace_stop", "workspace_delete",
                                           "vm_status",        "vm_stop",        "vm_delete"};

static uint64_t admit_seq;

static char *admit_key(const struct contract_op *op, const json_t *args)
{
    for (size_t i = 0; i < ARRAY_SIZE(admit_exempt); i++)
        if (!strcmp(op->name, admit_exempt[i]))
            return NULL;
    const char *id = json_get_str(args, "workspace_id", NULL);
    if (id)
        return xasprintf("workspace %s", id);
    id = json_get_str(args, "vm_id", NULL);
    return id ? xasprintf("VM %s", id) : NULL;
}

/* Calls in flight other than c that count against key, and the queued ones. */
static void admit_count(const struct mcp_server *srv, const struct mcp_call *c, const char *key, int *same, int *queued)
{
    *same = *queued = 0;
    for (const struct mcp_session *s = srv->sessions; s; s = s->next)
        for (const struct mcp_call *x = s->calls; x; x = x->next) {
            if (x == c) /* cancelled calls leave the list at once */
                continue;
            if (key && x->admit.key && !strcmp(x->admit.key, key))
                (*same)++;
            if (x->admit.args)
                (*queued)++;
        }
}

int mcp_admit(struct mcp_server *srv, struct mcp_call *c, json_t *args, pyro_error *err)
{
    int same, queued;
    if (!c->admit.seq) {
        /* First admission: the per-instance limit. */
        _cleanup_free_ char *key = admit_key(c->op, args);
        admit_count(srv, c, key, &same, &queued);
        if (key && same >= MCP_INSTANCE_CALLS_MAX)
            return err_set(err, -PYRO_E_LIMIT,
                           "%s already has %d tool calls running or waiting (the limit per workspace, "
                           "MCP_INSTANCE_CALLS_MAX, is %d): retry when one ends",
                           key, same, MCP_INSTANCE_CALLS_MAX);
        c->admit.key = TAKE_PTR(key);
        c->admit.seq = ++admit_seq;
    } else {
        admit_count(srv, c, NULL, &same, &queued);
    }
    if (srv->workers < MCP_MAX_WORKERS && !c->admit.args)
        return 0;
    if (c->admit.args)
        return 1;
    if (queued >= MCP_QUEUE_MAX)
        return err_set(err, -PYRO_E_LIMIT,
                       "%d tool calls are running and %d are waiting for a worker (the limits MCP_MAX_WORKERS=%d "
                       "and MCP_QUEUE_MAX=%d): retry when one ends",
                       srv->workers, queued, MCP_MAX_WORKERS, MCP_QUEUE_MAX);
    c->admit.args = json_incref(args);
    return 1;
}

static struct mcp_call *admit_oldest(struct mcp_server *srv)
{
    struct mcp_call *best = NULL;
    for (struct mcp_session *s = srv->sessions; s; s = s->next)
        for (struct mcp_call *x = s->calls; x; x = x->next)
            if (x->admit.args && (!best || x->admit.seq < best->admit.seq))
                best = x;
    return best;
}

void mcp_admit_pump(struct mcp_server *srv,
                    int (*start)(struct mcp_server *srv, struct mcp_call *c, json_t *args, pyro_error *err),
                    void (*fail)(struct mcp_call *c, const pyro_error *err))
{
    struct mcp_call *c;
    while (srv->workers < MCP_MAX_WORKERS && !ae_stopping(srv->loop) && (c = admit_oldest(srv))) {
        json_auto_t *args = TAKE_PTR(c->admit.args);
        pyro_error err = {0};
        if (start(srv, c, args, &err) < 0)
            fail(c, &err);
    }
}

void mcp_admit_release(struct mcp_call *c)
{
    free(c->admit.key);
    json_decref(c->admit.args);
    c->admit.key = NULL;
    c->admit.args = NULL;
}
