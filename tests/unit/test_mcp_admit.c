/* The MCP server's admission (src/mcp/admit.c): the per-workspace limit,
 * the exempt operations, the bounded queue for a free worker and the
 * order in which queued calls start. No worker is forked: the start
 * function is a stand-in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "mcp/mcp.h"

static struct mcp_server srv;
static struct mcp_session sess;

static void call_free(struct mcp_call *c)
{
    mcp_admit_release(c);
    free(c);
}

/* Cancels c as the server does: it leaves the session's list at once. */
static void call_cancel(struct mcp_call *c)
{
    for (struct mcp_call **p = &sess.calls; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    call_free(c);
}

static int setup(void **state)
{
    (void)state;
    pyro_error err = {0};
    memset(&srv, 0, sizeof(srv));
    memset(&sess, 0, sizeof(sess));
    srv.loop = ae_new(&err);
    sess.srv = &srv;
    srv.sessions = &sess;
    return srv.loop ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    while (sess.calls) {
        struct mcp_call *c = sess.calls;
        sess.calls = c->next;
        call_free(c);
    }
    ae_free(srv.loop);
    return 0;
}

/* A call of op on workspace ws, admitted (or not) like mcp_worker_start
 * mcp_call_start does, and linked into the session. */
static int admit(const char *op, const char *ws, struct mcp_call **out, pyro_error *err)
{
    struct mcp_call *c = xcalloc(1, sizeof(*c));
    c->session = &sess;
    c->op = contract_op_find(op);
    assert_non_null(c->op);
    json_auto_t *args = json_pack("{s:s}", "workspace_id", ws);
    int r = mcp_admit(&srv, c, args, err);
    if (r < 0) {
        call_free(c);
        return r;
    }
    if (r == 0)
        srv.workers++; /* a worker was started */
    c->next = sess.calls;
    sess.calls = c;
    if (out)
        *out = c;
    return r;
}

static void test_instance_limit(void **state)
{
    (void)state;
    pyro_error err = {0};
    for (int i = 0; i < MCP_INSTANCE_CALLS_MAX; i++)
        assert_int_equal(admit("workspace_exec", "busy", NULL, &err), 0);
    assert_int_equal(admit("workspace_file_read", "busy", NULL, &err), -PYRO_E_LIMIT);
    assert_non_null(strstr(err.message, "workspace busy"));
    assert_non_null(strstr(err.message, "MCP_INSTANCE_CALLS_MAX, is 4"));
    /* Other workspaces, and status/stop/delete of the busy one, go ahead. */
    assert_int_equal(admit("workspace_exec", "other", NULL, &err), 0);
    assert_int_equal(admit("workspace_status", "busy", NULL, &err), 0);
    assert_int_equal(admit("workspace_stop", "busy", NULL, &err), 0);
    assert_int_equal(admit("workspace_delete", "busy", NULL, &err), 0);
    /* A cancelled call no longer counts. */
    for (struct mcp_call *c = sess.calls; c; c = c->next)
        if (c->admit.key && !strcmp(c->admit.key, "workspace busy")) {
            call_cancel(c);
            break;
        }
    assert_int_equal(admit("workspace_exec", "busy", NULL, &err), 0);
    assert_int_equal(admit("workspace_exec", "busy", NULL, &err), -PYRO_E_LIMIT);
}

static int started[MCP_QUEUE_MAX + 8];
static int nstarted;

static int fake_start(struct mcp_server *s, struct mcp_call *c, json_t *args, pyro_error *err)
{
    assert_non_null(args);
    assert_null(c->admit.args);
    int r = mcp_admit(s, c, args, err); /* as mcp_call_start does */
    assert_int_equal(r, 0);
    s->workers++;
    started[nstarted++] = atoi(json_get_str(args, "workspace_id", "w-1") + 1);
    return 0;
}

static void fake_fail(struct mcp_call *c, const pyro_error *err)
{
    (void)c;
    (void)err;
    fail_msg("no queued call should fail to start");
}

static void test_queue(void **state)
{
    (void)state;
    pyro_error err = {0};
    srv.workers = MCP_MAX_WORKERS; /* every worker busy: calls wait */
    for (int i = 0; i < MCP_QUEUE_MAX; i++) {
        char ws[16];
        snprintf(ws, sizeof(ws), "w%d", i);
        assert_int_equal(admit("workspace_exec", ws, NULL, &err), 1);
    }
    assert_int_equal(admit("workspace_exec", "w999", NULL, &err), -PYRO_E_LIMIT);
    assert_non_null(strstr(err.message, "MCP_QUEUE_MAX=64"));
    /* Nothing starts while no worker is free. */
    mcp_admit_pump(&srv, fake_start, fake_fail);
    assert_int_equal(nstarted, 0);
    /* Three workers end: the three oldest calls start, in order. */
    srv.workers -= 3;
    mcp_admit_pump(&srv, fake_start, fake_fail);
    assert_int_equal(nstarted, 3);
    assert_int_equal(started[0], 0);
    assert_int_equal(started[1], 1);
    assert_int_equal(started[2], 2);
    assert_int_equal(srv.workers, MCP_MAX_WORKERS);
    /* A cancelled waiting call is skipped. */
    for (struct mcp_call *c = sess.calls; c; c = c->next)
        if (!strcmp(c->admit.key, "workspace w3")) {
            call_cancel(c);
            break;
        }
    srv.workers--;
    mcp_admit_pump(&srv, fake_start, fake_fail);
    assert_int_equal(nstarted, 4);
    assert_int_equal(started[3], 4);
    /* Room in the queue again: one more waits. */
    assert_int_equal(admit("workspace_exec", "w999", NULL, &err), 1);
    /* The per-workspace limit counts waiting calls too. */
    for (int i = 1; i < MCP_INSTANCE_CALLS_MAX; i++)
        assert_int_equal(admit("workspace_exec", "w10", NULL, &err), 1);
    assert_int_equal(admit("workspace_exec", "w10", NULL, &err), -PYRO_E_LIMIT);
    assert_non_null(strstr(err.message, "workspace w10 already has 4"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_instance_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
