/* The roots of the host-path policy (docs/mcp.md "Host-path policy";
 * lib/host/hostpaths.h applies them).
 *
 * The server's own roots are set up at start: every --allow-host-path
 * directory (read and write), the project source (read only: files created
 * in a checkout could run on the host later) and a fresh export directory,
 * <state>/mcp/exports/XXXXXX (read and write; none for --profile vm-run),
 * removed at exit when empty.
 *
 * A client that declares the roots capability is asked for its roots
 * (roots/list) before the first tools/call of its session and again after
 * notifications/roots/list_changed; its file:// roots are added, read and
 * write, for that session's calls. A call that arrives while the answer is
 * pending waits for it (parked); without an answer within
 * ROOTS_WAIT_MS the calls run with the server's roots alone. Over HTTP a
 * client's roots count only when the transport authenticates clients (a
 * bearer token): an unauthenticated local user must not widen them.
 *
 * Each call's worker is forked with the session's roots appended to the
 * server's policy, which is cut back right after the fork. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/timeutil.h"
#include "lib/host/hostpaths.h"
#include "mcp/mcp.h"

#define ROOTS_WAIT_MS 5000
#define ROOTS_MAX 32

enum roots_state { ROOTS_UNKNOWN, ROOTS_ASKING, ROOTS_KNOWN };

struct parked {
    struct mcp_call *c;
    json_t *args;
};

struct mcp_roots {
    struct mcp_session *session;
    enum roots_state state;
    bool stale; /* list_changed while asking: ask again next time */
    unsigned asks;
    char req_id[48]; /* id of the roots/list request in flight */
    int64_t timer;   /* ae timer while asking, else 0 */
    char *dirs[ROOTS_MAX];
    size_t ndirs;
    struct parked *parked;
    size_t nparked;
};

/* ---- the server's roots ------------------------------------------------ */

int mcp_roots_setup(struct mcp_server *srv, const char *const *allow, pyro_error *err)
{
    struct host_policy *p = xcalloc(1, sizeof(*p));
    srv->host_policy = p;
    int r = 0;
    for (size_t i = 0; allow && allow[i] && r == 0; i++)
        r = host_policy_add(p, allow[i], true, "--allow-host-path", err);
    if (r == 0 && srv->project_source)
        r = host_policy_add(p, srv->project_source, false, "project source, read only", err);
    if (r < 0)
        return r;
    srv->ctx->host_policy = p;
    if (srv->surface == SURFACE_VM_RUN)
        return 0; /* vm_run names no host path: no export directory */
    _cleanup_free_ char *base = xasprintf("%s/mcp/exports", pyro_ctx_state_dir(srv->ctx));
    r = mkdir_p(base, 0700, err);
    if (r < 0)
        return err_prefix(err, "the export directory");
    _cleanup_free_ char *dir = xasprintf("%s/XXXXXX", base);
    if (!mkdtemp(dir))
        return err_errno(err, errno, "create the export directory in %s", base);
    (void)chmod(dir, 0755);
    r = host_policy_add(p, dir, true, "export directory", err);
    if (r < 0) {
        rmdir(dir);
        return r;
    }
    srv->export_dir = xstrdup(p->roots[p->n - 1].path);
    return 0;
}

void mcp_roots_teardown(struct mcp_server *srv)
{
    if (srv->ctx && srv->ctx->host_policy == srv->host_policy)
        srv->ctx->host_policy = NULL;
    if (srv->export_dir)
        (void)rmdir(srv->export_dir); /* kept when something was exported */
    free(srv->export_dir);
    srv->export_dir = NULL;
    if (srv->host_policy) {
        host_policy_truncate(srv->host_policy, 0);
        free(srv->host_policy);
        srv->host_policy = NULL;
    }
}

char *mcp_roots_instructions(const struct mcp_server *srv)
{
    if (!srv->host_policy)
        return xstrdup("");
    _cleanup_free_ char *rd = host_policy_describe(srv->host_policy, false);
    return xasprintf(" Host paths you name (seed_path, source_path, output_path) must lie beneath the allowed "
                     "host paths: %s, and the roots the client offers (MCP roots); exports go to a writable "
                     "one, by default the export directory: %s.",
                     rd, srv->export_dir ? srv->export_dir : "none");
}

/* ---- the client's roots ------------------------------------------------ */

static void roots_initialize(struct mcp_session *s, const json_t *params)
{
    const json_t *caps = json_object_get(params, "capabilities");
    if (!json_is_object(json_object_get(caps, "roots")) || s->roots)
        return;
    struct mcp_roots *r = xcalloc(1, sizeof(*r));
    r->session = s;
    s->roots = r;
}

static void roots_clear(struct mcp_roots *r)
{
    for (size_t i = 0; i < r->ndirs; i++)
        free(r->dirs[i]);
    r->ndirs = 0;
}

static void timer_stop(struct mcp_roots *r)
{
    if (!r->timer)
        return;
    (void)ae_timer_del(r->session->srv->loop, r->timer);
    r->timer = 0;
}

/* Forks c's worker with the session's roots added to the server's. */
static int start_with_roots(struct mcp_server *srv, struct mcp_call *c, json_t *args, pyro_error *err)
{
    struct mcp_roots *r = c->session->roots;
    struct host_policy *p = srv->host_policy;
    size_t n0 = p ? p->n : 0;
    for (size_t i = 0; p && r && i < r->ndirs; i++) {
        pyro_error aerr = {0};
        if (host_policy_add(p, r->dirs[i], true, "client root", &aerr) < 0)
            log_debug("mcp: client root %s skipped: %s", r->dirs[i], aerr.message);
    }
    int rc = mcp_call_start(c, args, err);
    if (p)
        host_policy_truncate(p, n0);
    return rc;
}

static bool call_parked(const struct mcp_session *s, const struct mcp_call *c)
{
    for (const struct mcp_call *x = s->calls; x; x = x->next)
        if (x == c)
            return !c->worker; /* not started (a cancelled call is gone) */
    return false;
}

/* Starts every parked call (the answer came, or never will). */
static void unpark(struct mcp_roots *r)
{
    struct parked *list = r->parked;
    size_t n = r->nparked;
    r->parked = NULL;
    r->nparked = 0;
    struct mcp_session *s = r->session;
    for (size_t i = 0; i < n; i++) {
        struct mcp_call *c = list[i].c;
        /* Skip calls cancelled meanwhile, and a newer call that reuses the
         * memory of one that was (it is listed again further on). */
        bool later = false;
        for (size_t k = i + 1; k < n; k++)
            later |= list[k].c == c;
        pyro_error err = {0};
        if (!later && call_parked(s, c) && start_with_roots(s->srv, c, list[i].args, &err) < 0)
            mcp_call_fail(c, &err);
        json_decref(list[i].args);
    }
    free(list);
}

static int64_t on_timeout(struct ae_loop *loop, int64_t id, void *data)
{
    struct mcp_roots *r = data;
    r->timer = 0; /* ends with this run */
    log_msg(PYRO_LOG_WARN,
            "mcp: the client did not answer roots/list within %d ms: calls use the server's allowed host "
            "paths only",
            ROOTS_WAIT_MS);
    r->state = ROOTS_KNOWN;
    r->req_id[0] = '\0';
    unpark(r);
    return AE_NOMORE;
}

static void ask(struct mcp_roots *r, struct mcp_call *c)
{
    snprintf(r->req_id, sizeof(r->req_id), "pyro-roots-%u", ++r->asks);
    r->state = ROOTS_ASKING;
    r->stale = false;
    timer_stop(r);
    r->timer = ae_timer_add(c->session->srv->loop, ROOTS_WAIT_MS, on_timeout, r);
    /* On the call's exchange (over HTTP its SSE stream), as a related
     * message; through the transport's ops, as mcp_exchange_notify does. */
    json_auto_t *req = json_pack("{s:s, s:s, s:s}", "jsonrpc", "2.0", "id", r->req_id, "method", "roots/list");
    if (!c->x->sent_final) {
        c->x->notified = true;
        c->x->ops->emit(c->x, req, false);
    }
}

static int roots_call_start(struct mcp_server *srv, struct mcp_call *c, json_t *args, pyro_error *err)
{
    struct mcp_roots *r = c->session->roots;
    if (!r || r->state == ROOTS_KNOWN)
        return start_with_roots(srv, c, args, err);
    r->parked = xrealloc(r->parked, (r->nparked + 1) * sizeof(*r->parked));
    r->parked[r->nparked++] = (struct parked){.c = c, .args = json_incref(args)};
    if (r->state == ROOTS_UNKNOWN)
        ask(r, c);
    return 0;
}

/* "file:///a%20b" -> "/a b"; NULL for anything else. */
static char *uri_path(const char *uri)
{
    if (!uri || strncmp(uri, "file://", 7) != 0)
        return NULL;
    const char *p = uri + 7;
    if (!strncmp(p, "localhost/", 10))
        p += 9;
    if (*p != '/')
        return NULL;
    char *out = xmalloc(strlen(p) + 1);
    size_t o = 0;
    for (; *p; p++) {
        if (*p == '%' && p[1] && p[2]) {
            char hex[3] = {p[1], p[2], 0}, *e;
            long v = strtol(hex, &e, 16);
            if (*e || v <= 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)v;
            p += 2;
        } else
            out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}

static bool roots_response(struct mcp_session *s, const json_t *msg)
{
    struct mcp_roots *r = s->roots;
    const char *id = json_string_value(json_object_get(msg, "id"));
    if (!r || r->state != ROOTS_ASKING || !id || strcmp(id, r->req_id) != 0)
        return false;
    timer_stop(r);
    roots_clear(r);
    const json_t *list = json_object_get(json_object_get(msg, "result"), "roots");
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e) {
        const char *uri = json_string_value(json_object_get(e, "uri"));
        _cleanup_free_ char *path = uri_path(uri);
        _cleanup_free_ char *real = path ? realpath(path, NULL) : NULL;
        struct stat st;
        if (!real || stat(real, &st) < 0 || !S_ISDIR(st.st_mode) || r->ndirs == ROOTS_MAX) {
            log_msg(PYRO_LOG_WARN, "mcp: client root %.400s ignored: not a local directory (or more than %d roots)",
                    uri ? uri : "(no uri)", ROOTS_MAX);
            continue;
        }
        r->dirs[r->ndirs++] = TAKE_PTR(real);
    }
    if (!json_is_array(list))
        log_msg(PYRO_LOG_WARN, "mcp: roots/list failed: calls use the server's allowed host paths only");
    r->state = r->stale ? ROOTS_UNKNOWN : ROOTS_KNOWN;
    r->req_id[0] = '\0';
    unpark(r);
    return true;
}

static void roots_changed(struct mcp_session *s)
{
    struct mcp_roots *r = s->roots;
    if (!r)
        return;
    if (r->state == ROOTS_ASKING)
        r->stale = true;
    else
        r->state = ROOTS_UNKNOWN;
}

static void roots_session_free(struct mcp_session *s)
{
    struct mcp_roots *r = s->roots;
    if (!r)
        return;
    timer_stop(r);
    roots_clear(r);
    for (size_t i = 0; i < r->nparked; i++)
        json_decref(r->parked[i].args);
    free(r->parked);
    free(r);
    s->roots = NULL;
}

const struct mcp_roots_ops mcp_roots_ops = {
    .initialize = roots_initialize,
    .call_start = roots_call_start,
    .response = roots_response,
    .changed = roots_changed,
    .session_free = roots_session_free,
};
