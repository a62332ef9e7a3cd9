/* Fuzz target: the MCP server's message entry, mcp_server_handle()
 * (src/mcp/server.c: JSON-RPC parsing, batches, lifecycle, dispatch,
 * tools/list, tools/call argument validation). The first byte picks the
 * profile or mode; the rest is split at newlines into messages handled in
 * order by one session, as a transport would. Every worker slot is marked
 * taken, so a valid tools/call waits in the queue; the harness ends it
 * with a tool error instead of a fork. For each message the harness checks:
 *   - the exchange ends exactly once and is released;
 *   - the final message is nothing, a JSON-RPC response (jsonrpc "2.0", an
 *     id that is a string, an integer or null, exactly one of result and
 *     error, an error with an integer code and a string message) or, for
 *     a batch, a non-empty array of them;
 *   - a single well-formed request is answered under its own id;
 *   - a notification gets no answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "fuzz.h"
#include "lib/contract/ctx.h"
#include "mcp/mcp.h"

struct capture {
    int finals;
    bool released;
    json_t *final;
};

static void cap_emit(struct mcp_exchange *x, json_t *msg, bool final)
{
    struct capture *c = x->transport;
    if (!final) {
        /* related notifications: a method, no id */
        if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "method")) || json_object_get(msg, "id"))
            abort();
        return;
    }
    c->finals++;
    c->final = msg ? json_incref(msg) : NULL;
}

static void cap_release(struct mcp_exchange *x)
{
    struct capture *c = x->transport;
    c->released = true;
    free(x);
}

static const struct mcp_exchange_ops cap_ops = {.emit = cap_emit, .release = cap_release};

static void check_response(const json_t *r)
{
    if (!json_is_object(r) || strcmp(json_get_str(r, "jsonrpc", ""), "2.0") != 0)
        abort();
    const json_t *id = json_object_get(r, "id");
    if (!id || !(json_is_string(id) || json_is_integer(id) || json_is_null(id)))
        abort();
    const json_t *res = json_object_get(r, "result"), *err = json_object_get(r, "error");
    if (!!res == !!err)
        abort();
    if (err && (!json_is_integer(json_object_get(err, "code")) || !json_is_string(json_object_get(err, "message"))))
        abort();
    if (res && !json_is_object(res))
        abort();
}

static void handle_line(struct mcp_server *srv, struct mcp_session *s, const char *text, size_t len)
{
    struct capture cap = {0};
    struct mcp_exchange *x = calloc(1, sizeof(*x));
    x->ops = &cap_ops;
    x->transport = &cap;
    x->session = s;
    x->refs = 1;
    mcp_server_handle(srv, x, text, len);
    /* Every worker is taken, so a valid tools/call waits in the queue
     * (mcp/admit.c): end each waiting call as a server would that cannot
     * start it, which must answer it exactly once. */
    for (struct mcp_call *c = s->calls, *next; c; c = next) {
        next = c->next;
        if (c->admit.args) {
            pyro_error e = {.code = -PYRO_E_LIMIT, .message = "no worker (fuzzing)"};
            mcp_call_fail(c, &e);
        }
    }
    if (cap.finals != 1 || x->pending != 0)
        abort();
    mcp_exchange_unref(x);
    if (!cap.released)
        abort();
    json_auto_t *in = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_array(cap.final)) {
        if (!json_array_size(cap.final) || !json_is_array(in))
            abort();
        size_t i;
        json_t *m;
        json_array_foreach(cap.final, i, m)
            check_response(m);
    } else if (cap.final) {
        check_response(cap.final);
        const json_t *id = json_object_get(in, "id");
        if (json_is_object(in) && json_is_string(json_object_get(in, "method")) &&
            !strcmp(json_get_str(in, "jsonrpc", ""), "2.0") && (json_is_string(id) || json_is_integer(id)) &&
            !json_equal((json_t *)id, json_object_get(cap.final, "id")))
            abort(); /* a well-formed request answered under another id */
    } else if (json_is_object(in) && json_is_string(json_object_get(in, "method")) && json_object_get(in, "id") &&
               !strcmp(json_get_str(in, "jsonrpc", ""), "2.0") &&
               (json_is_string(json_object_get(in, "id")) || json_is_integer(json_object_get(in, "id")))) {
        abort(); /* a well-formed request got no answer */
    }
    json_decref(cap.final);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static struct pyro_ctx ctx;
    struct mcp_server srv;
    mcp_server_init(&srv, &ctx, (enum contract_surface)(data[0] % SURFACE_COUNT));
    srv.workers = MCP_MAX_WORKERS; /* tools/call: queued, never forked */
    struct mcp_session *s = mcp_session_new(&srv);
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        handle_line(&srv, s, p, len);
        p += len + 1;
    }
    mcp_server_fini(&srv);
    return 0;
}
