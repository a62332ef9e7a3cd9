/* stdio transport: newline-delimited compact JSON. stdin is read into a
 * growable buffer capped at MCP_MESSAGE_MAX; a longer line is answered
 * with a parse error and skipped. Only protocol messages go to stdout.
 * EOF on stdin ends the server once the calls in flight have answered
 * (SIGTERM cancels them instead; so does EOF a task's call: nobody can
 * poll it any more); workspaces and VMs stay as they are. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "mcp/mcp.h"

struct stdio_transport {
    struct mcp_server *srv;
    struct mcp_session *session;
    int in_fd, out_fd;
    char *buf;
    size_t len, cap;
    bool skipping; /* inside an over-long line */
    bool broken;   /* stdout is gone */
    bool eof;      /* stdin ended: finish the calls in flight, then exit */
};

static void write_line(struct stdio_transport *t, const json_t *msg)
{
    if (t->broken)
        return;
    _cleanup_free_ char *text = json_dump(msg, JSON_COMPACT);
    size_t n = strlen(text);
    text[n] = '\n';
    for (size_t off = 0; off < n + 1;) {
        ssize_t w = write(t->out_fd, text + off, n + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            t->broken = true;
            ae_stop(t->srv->loop);
            return;
        }
        off += (size_t)w;
    }
    text[n] = '\0';
}

static void stdio_emit(struct mcp_exchange *x, json_t *msg, bool final)
{
    if (msg)
        write_line(x->transport, msg);
}

static void stdio_release(struct mcp_exchange *x)
{
    free(x);
}

static const struct mcp_exchange_ops stdio_ops = {.emit = stdio_emit, .release = stdio_release};

static void stdio_session_notify(struct mcp_session *s, json_t *msg)
{
    struct stdio_transport *t = s->srv->session_notify_data;
    write_line(t, msg);
}

static void handle_line(struct stdio_transport *t, char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len)
        return; /* empty lines are skipped */
    struct mcp_exchange *x = xcalloc(1, sizeof(*x));
    x->ops = &stdio_ops;
    x->transport = t;
    x->session = t->session;
    x->refs = 1;
    mcp_server_handle(t->srv, x, line + i, len - i);
    mcp_exchange_unref(x);
}

static void too_long(struct stdio_transport *t)
{
    json_auto_t *e = mcp_error_response(NULL, -32700, "Parse error: message larger than the 16 MiB limit", NULL);
    write_line(t, e);
}

static void stdin_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct stdio_transport *t = data;
    if (t->cap - t->len < 65536) {
        t->cap = t->cap ? t->cap * 2 : 131072;
        t->buf = xrealloc(t->buf, t->cap);
    }
    ssize_t n = read(fd, t->buf + t->len, t->cap - t->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        /* EOF: the client sends nothing more; answer what is in flight. */
        t->eof = true;
        ae_file_del(loop, fd, AE_READABLE);
        return;
    }
    size_t scan = t->len;
    t->len += (size_t)n;
    size_t start = 0;
    char *nl;
    while ((nl = memchr(t->buf + scan, '\n', t->len - scan))) {
        size_t end = (size_t)(nl - t->buf);
        if (t->skipping)
            t->skipping = false;
        else
            handle_line(t, t->buf + start, end - start);
        start = scan = end + 1;
    }
    memmove(t->buf, t->buf + start, t->len - start);
    t->len -= start;
    if (t->len > MCP_MESSAGE_MAX) {
        if (!t->skipping)
            too_long(t);
        t->skipping = true;
        t->len = 0;
    }
    /* Give back memory after a large message. */
    if (t->cap > 1048576 && t->len < 65536) {
        t->cap = 131072;
        t->buf = xrealloc(t->buf, t->cap);
    }
}

/* Calls whose request is still unanswered (a task's was answered when
 * the task was made: nobody is left to poll it after EOF). */
static bool calls_unanswered(const struct mcp_session *s)
{
    for (const struct mcp_call *c = s->calls; c; c = c->next)
        if (!c->task)
            return true;
    return false;
}

static int stdio_prepare(struct ae_loop *loop, void *data)
{
    struct stdio_transport *t = data;
    mcp_server_reap(t->srv, false);
    if ((t->eof && !calls_unanswered(t->session)) || t->broken)
        ae_stop(t->srv->loop);
    return -1;
}

int mcp_stdio_serve(struct mcp_server *srv, int in_fd, int out_fd, pyro_error *err)
{
    struct stdio_transport t = {.srv = srv, .in_fd = in_fd, .out_fd = out_fd};
    t.session = mcp_session_new(srv);
    srv->session_notify = stdio_session_notify;
    srv->session_notify_data = &t;
    int r = ae_file_add(srv->loop, in_fd, AE_READABLE, stdin_readable, &t, err);
    if (r == -EPERM)
        r = err_set(err, -PYRO_E_UNSUPPORTED, "stdin must be a pipe, socket or terminal, not a regular file");
    ae_set_before_sleep(srv->loop, stdio_prepare, &t);
    if (r == 0)
        r = ae_run(srv->loop, err);
    if (!t.eof)
        ae_file_del(srv->loop, in_fd, AE_READABLE);
    /* Calls still in flight (SIGTERM, stdout gone) are cancelled. */
    mcp_session_free(t.session);
    srv->session_notify = NULL;
    free(t.buf);
    return r;
}
