/* tools/call workers: one forked process per call.
 *
 * The child runs the operation's handler with the server's context and
 * writes newline-delimited JSON to a pipe: {"progress":{...}},
 * {"log":{...}}, {"instance":{"kind","id"}} (an instance it created), and
 * finally {"result":{...}} or {"error":{"code","message"}}. It never has
 * the protocol's stdout: fds 0 and 1 are /dev/null in the child.
 *
 * Cancellation SIGKILLs the child. Its connection to the sandbox monitor
 * closes, so the monitor kills the running command; then a clean-up child
 * destroys the instances the call had created (vm_run's VM), so nothing
 * is left behind. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "lib/vm/instance.h"
#include "base/json.h"
#include "base/log.h"
#include "mcp/mcp.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int child_fd = -1;

/* Closes every fd from lo up (close_range, or a loop where it is missing). */
static void close_from(int lo)
{
    if (close_range((unsigned)lo, ~0U, 0) == 0)
        return;
    for (int fd = lo; fd < 65536; fd++)
        close(fd);
}

static void child_write(json_t *line)
{
    _cleanup_free_ char *t = json_dump(line, JSON_COMPACT);
    size_t n = strlen(t);
    t[n] = '\n'; /* replaces the NUL; written with its length below */
    for (size_t off = 0; off < n + 1;) {
        ssize_t w = write(child_fd, t + off, n + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the server is gone: the result has no reader */
        off += (size_t)w;
    }
    t[n] = '\0';
}

static void child_progress(void *data, const char *operation, const char *phase, int64_t current, int64_t total,
                           const char *message)
{
    json_auto_t *l = json_pack("{s:{s:s, s:s, s:I, s:I, s:s}}", "progress", "operation", operation ? operation : "",
                               "phase", phase ? phase : "", "current", (json_int_t)current, "total",
                               (json_int_t)total, "message", message ? message : "");
    child_write(l);
}

static void child_log(void *data, enum log_level level, const char *message)
{
    json_auto_t *l = json_pack("{s:{s:s, s:s}}", "log", "level", log_level_name(level), "message", message);
    child_write(l);
}

static void child_instance(void *data, const char *kind, const char *id)
{
    json_auto_t *l = json_pack("{s:{s:s, s:s}}", "instance", "kind", kind, "id", id);
    child_write(l);
}

static __attribute__((noreturn)) void child_run(struct mcp_server *srv, const struct contract_op *op, json_t *args,
                                                int fd)
{
    /* Protocol fds and sockets stay with the server. */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0)
        _exit(120);
    if (fd != 3) {
        if (dup2(fd, 3) < 0)
            _exit(121);
        fd = 3;
    }
    close_from(4);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    child_fd = fd;
    sigset_t none;
    sigemptyset(&none);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_SETMASK, &none, NULL);

    struct pyro_ctx *ctx = srv->ctx;
    ctx->progress = child_progress;
    ctx->progress_data = NULL;
    ctx->instance_created = child_instance;
    ctx->instance_created_data = NULL;
    log_set_sink(child_log, NULL);

    pyro_error err = {0};
    json_t *result = NULL;
    int r = op->handler(ctx, args, &result, &err);
    json_auto_t *out = NULL;
    if (r < 0)
        out = json_pack("{s:{s:s, s:s}}", "error", "code", pyro_error_name(err.code), "message", err.message);
    else
        out = json_pack("{s:o}", "result", result ? result : json_object());
    child_write(out);
    _exit(0);
}

static void worker_readable(struct mcp_loop *loop, int fd, uint32_t events, void *data);

int mcp_worker_start(struct mcp_server *srv, struct mcp_call *c, json_t *args, pyro_error *err)
{
    int a = mcp_admit(srv, c, args, err);
    if (a != 0)
        return a < 0 ? a : 0; /* refused, or queued: mcp_call_finish starts it later */
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return err_errno(err, e, "fork");
    }
    if (pid == 0) {
        close(p[0]);
        child_run(srv, c->op, args, p[1]);
    }
    close(p[1]);
    (void)fcntl(p[0], F_SETFL, O_NONBLOCK);
    c->pid = pid;
    c->fd = p[0];
    srv->workers++;
    return mcp_loop_add(srv->loop, c->fd, EPOLLIN, worker_readable, c, err);
}

/* ---- the server side -------------------------------------------------- */

static int log_level_from_lib(const char *name)
{
    if (!strcmp(name, "error"))
        return mcp_log_level_find("error");
    if (!strcmp(name, "warn"))
        return mcp_log_level_find("warning");
    if (!strcmp(name, "info"))
        return mcp_log_level_find("info");
    return mcp_log_level_find("debug");
}

static void handle_line(struct mcp_call *c, const char *line, size_t len)
{
    json_auto_t *v = json_loadb(line, len, 0, NULL);
    if (!json_is_object(v))
        return;
    json_t *p;
    if ((p = json_object_get(v, "progress"))) {
        if (!c->progress_token || c->cancelled)
            return;
        c->progress += 1;
        const char *phase = json_get_str(p, "phase", "");
        const char *msg = json_get_str(p, "message", "");
        long long cur = json_get_int(p, "current", -1), tot = json_get_int(p, "total", -1);
        _cleanup_free_ char *text = NULL;
        if (cur >= 0 && tot > 0)
            text = xasprintf("%s %s: %s (%lld/%lld)", json_get_str(p, "operation", ""), phase, msg, cur, tot);
        else
            text = xasprintf("%s %s%s%s", json_get_str(p, "operation", ""), phase, msg[0] ? ": " : "", msg);
        json_t *n = json_pack("{s:s, s:s, s:{s:O, s:f, s:s}}", "jsonrpc", "2.0", "method",
                              "notifications/progress", "params", "progressToken", c->progress_token, "progress",
                              c->progress, "message", text);
        mcp_exchange_notify(c->x, n);
    } else if ((p = json_object_get(v, "log"))) {
        if (!c->cancelled)
            mcp_session_log(c->session, c->x, log_level_from_lib(json_get_str(p, "level", "debug")), "pyro",
                            json_get_str(p, "message", ""));
    } else if ((p = json_object_get(v, "instance"))) {
        if (!c->ephemeral)
            c->ephemeral = json_array();
        json_array_append(c->ephemeral, p);
    } else if (json_object_get(v, "result") || json_object_get(v, "error")) {
        json_decref(c->outcome);
        c->outcome = json_incref(v);
    }
}

static void process_lines(struct mcp_call *c)
{
    size_t start = 0;
    for (;;) {
        char *nl = memchr(c->buf + start, '\n', c->len - start);
        if (!nl)
            break;
        handle_line(c, c->buf + start, (size_t)(nl - (c->buf + start)));
        start = (size_t)(nl - c->buf) + 1;
    }
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
}

/* Reads what is available; returns 1 at EOF, 0 when more may come, -1
 * when the worker wrote more than a message may hold. */
static int drain(struct mcp_call *c)
{
    for (;;) {
        if (c->cap - c->len < 65536) {
            if (c->cap >= MCP_MESSAGE_MAX + 65536)
                return -1;
            c->cap = c->cap ? c->cap * 2 : 65536;
            c->buf = xrealloc(c->buf, c->cap);
        }
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : 1;
        if (n == 0)
            return 1;
        c->len += (size_t)n;
        process_lines(c);
    }
}

static void reap(struct mcp_call *c, int *status)
{
    if (c->pid <= 0)
        return;
    while (waitpid(c->pid, status, 0) < 0 && errno == EINTR)
        ;
    c->pid = 0;
    c->session->srv->workers--;
}

static void stop_watching(struct mcp_call *c)
{
    if (c->fd < 0)
        return;
    mcp_loop_del(c->session->srv->loop, c->fd);
    close(c->fd);
    c->fd = -1;
}

/* Destroys the instances c announced, in a child (it may take a while). */
static void cleanup_instances(struct mcp_call *c)
{
    struct mcp_server *srv = c->session->srv;
    if (!json_array_size(c->ephemeral))
        return;
    int slot = -1;
    for (int i = 0; i < MCP_MAX_WORKERS && slot < 0; i++)
        if (srv->cleaners[i] <= 0)
            slot = i;
    if (slot < 0) { /* all busy: wait for the oldest */
        while (waitpid(srv->cleaners[0], NULL, 0) < 0 && errno == EINTR)
            ;
        slot = 0;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_debug("mcp: fork for clean-up: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
        }
        close_from(3);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        log_set_sink(NULL, NULL);
        size_t i;
        json_t *e;
        json_array_foreach(c->ephemeral, i, e) {
            struct instance inst;
            pyro_error err = {0};
            if (instance_open(srv->ctx, json_get_str(e, "kind", ""), json_get_str(e, "id", ""), &inst,
                              &err) < 0)
                continue; /* already gone: the handler cleaned up */
            (void)instance_destroy(&inst, &err);
            instance_close(&inst);
        }
        _exit(0);
    }
    srv->cleaners[slot] = pid;
}

void mcp_server_reap(struct mcp_server *srv, bool wait)
{
    for (int i = 0; i < MCP_MAX_WORKERS; i++) {
        if (srv->cleaners[i] <= 0)
            continue;
        pid_t r;
        while ((r = waitpid(srv->cleaners[i], NULL, wait ? 0 : WNOHANG)) < 0 && errno == EINTR)
            ;
        if (r != 0)
            srv->cleaners[i] = 0;
    }
}

void mcp_worker_cancel(struct mcp_call *c)
{
    if (c->cancelled)
        return;
    c->cancelled = true;
    if (c->pid > 0)
        kill(c->pid, SIGKILL);
    int st;
    reap(c, &st);
    if (c->fd >= 0)
        (void)drain(c); /* what it wrote before dying: the instances it made */
    stop_watching(c);
    cleanup_instances(c);
}

void mcp_call_free(struct mcp_call *c)
{
    if (!c)
        return;
    mcp_admit_release(c);
    json_decref(c->id);
    json_decref(c->progress_token);
    json_decref(c->outcome);
    json_decref(c->ephemeral);
    free(c->buf);
    free(c);
}

static void call_unlink(struct mcp_call *c)
{
    for (struct mcp_call **p = &c->session->calls; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return;
        }
}

void mcp_call_finish(struct mcp_call *c)
{
    struct mcp_exchange *x = c->x;
    struct mcp_server *srv = c->session->srv;
    call_unlink(c);
    if (c->cancelled) {
        mcp_exchange_drop(x);
    } else {
        int st = 0;
        reap(c, &st);
        stop_watching(c);
        json_t *resp;
        if (c->outcome) {
            resp = mcp_result_response(c->id, mcp_tool_result(c->outcome));
        } else {
            char m[200];
            if (WIFSIGNALED(st))
                snprintf(m, sizeof(m), "%s: the worker process was killed by signal %d before it answered",
                         c->op->name, WTERMSIG(st));
            else
                snprintf(m, sizeof(m), "%s: the worker process exited with status %d before it answered",
                         c->op->name, WEXITSTATUS(st));
            resp = mcp_result_response(c->id, mcp_tool_error("internal", m));
            cleanup_instances(c);
        }
        char m[200];
        snprintf(m, sizeof(m), "tools/call %s finished", c->op->name);
        mcp_session_log(c->session, x, 0, "pyro.mcp", m);
        mcp_exchange_reply(x, resp);
    }
    mcp_call_free(c);
    mcp_exchange_unref(x);
    /* A worker may have ended: start the calls waiting for one. */
    mcp_admit_pump(srv, mcp_roots_ops.call_start, mcp_call_finish);
}

static void worker_readable(struct mcp_loop *loop, int fd, uint32_t events, void *data)
{
    struct mcp_call *c = data;
    int r = drain(c);
    if (r == 0)
        return;
    if (r < 0) {
        /* Larger than any message may be: stop it and say so. */
        kill(c->pid, SIGKILL);
        json_decref(c->outcome);
        char m[200];
        snprintf(m, sizeof(m), "%s: the result exceeds the %u-byte message limit", c->op->name, MCP_MESSAGE_MAX);
        c->outcome = json_pack("{s:{s:s, s:s}}", "error", "code", pyro_error_name(-PYRO_E_LIMIT), "message", m);
    }
    mcp_call_finish(c);
}
