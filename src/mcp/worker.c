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
 * is left behind.
 *
 * The server side of a worker reports to its owner (server.c) only through
 * the mcp_worker_events callbacks it was started with. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "lib/vm/instance.h"
#include "mcp/mcp.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct mcp_worker {
    struct mcp_server *srv;
    const struct contract_op *op;
    const struct mcp_worker_events *ev;
    void *data;
    pid_t pid;
    int fd; /* the worker's pipe */
    char *buf;
    size_t len, cap;
    json_t *outcome;   /* {"result":...} or {"error":...} from the worker */
    json_t *ephemeral; /* [{"kind","id"}] the worker announced */
    bool cancelled;
};

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
                               "phase", phase ? phase : "", "current", (json_int_t)current, "total", (json_int_t)total,
                               "message", message ? message : "");
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
    ctx_redact_outcome(ctx, &result, &err);
    json_auto_t *out = NULL;
    if (r < 0)
        out = json_pack("{s:{s:s, s:s}}", "error", "code", pyro_error_name(err.code), "message", err.message);
    else
        out = json_pack("{s:o}", "result", result ? result : json_object());
    child_write(out);
    _exit(0);
}

static void worker_readable(struct ae_loop *loop, int fd, int mask, void *data);

static void worker_free(struct mcp_worker *w)
{
    json_decref(w->outcome);
    json_decref(w->ephemeral);
    free(w->buf);
    free(w);
}

static void reap(struct mcp_worker *w, int *status)
{
    if (w->pid <= 0)
        return;
    while (waitpid(w->pid, status, 0) < 0 && errno == EINTR)
        ;
    w->pid = 0;
    w->srv->workers--;
}

static void stop_watching(struct mcp_worker *w)
{
    if (w->fd < 0)
        return;
    ae_file_del(w->srv->loop, w->fd, AE_READABLE);
    close(w->fd);
    w->fd = -1;
}

int mcp_worker_start(struct mcp_server *srv, const struct contract_op *op, json_t *args,
                     const struct mcp_worker_events *ev, void *data, struct mcp_worker **out, pyro_error *err)
{
    if (srv->workers >= MCP_MAX_WORKERS)
        return err_set(err, -PYRO_E_LIMIT,
                       "%d tool calls are already running in this server (the limit); retry when one ends",
                       MCP_MAX_WORKERS);
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
        child_run(srv, op, args, p[1]);
    }
    close(p[1]);
    (void)fcntl(p[0], F_SETFL, O_NONBLOCK);
    struct mcp_worker *w = xcalloc(1, sizeof(*w));
    *w = (struct mcp_worker){.srv = srv, .op = op, .ev = ev, .data = data, .pid = pid, .fd = p[0]};
    srv->workers++;
    int r = ae_file_add(srv->loop, w->fd, AE_READABLE, worker_readable, w, err);
    if (r < 0) {
        kill(pid, SIGKILL);
        int st;
        reap(w, &st);
        close(w->fd);
        worker_free(w);
        return r;
    }
    *out = w;
    return 0;
}

pid_t mcp_worker_pid(const struct mcp_worker *w)
{
    return w->pid;
}

static void handle_line(struct mcp_worker *w, const char *line, size_t len)
{
    json_auto_t *v = json_loadb(line, len, 0, NULL);
    if (!json_is_object(v))
        return;
    json_t *p;
    if ((p = json_object_get(v, "progress"))) {
        if (!w->cancelled)
            w->ev->progress(w->data, p);
    } else if ((p = json_object_get(v, "log"))) {
        if (!w->cancelled)
            w->ev->log(w->data, json_get_str(p, "level", "debug"), json_get_str(p, "message", ""));
    } else if ((p = json_object_get(v, "instance"))) {
        if (!w->ephemeral)
            w->ephemeral = json_array();
        json_array_append(w->ephemeral, p);
    } else if (json_object_get(v, "result") || json_object_get(v, "error")) {
        json_decref(w->outcome);
        w->outcome = json_incref(v);
    }
}

static void process_lines(struct mcp_worker *w)
{
    size_t start = 0;
    for (;;) {
        char *nl = memchr(w->buf + start, '\n', w->len - start);
        if (!nl)
            break;
        handle_line(w, w->buf + start, (size_t)(nl - (w->buf + start)));
        start = (size_t)(nl - w->buf) + 1;
    }
    memmove(w->buf, w->buf + start, w->len - start);
    w->len -= start;
}

/* Reads what is available; returns 1 at EOF, 0 when more may come, -1
 * when the worker wrote more than a message may hold. */
static int drain(struct mcp_worker *w)
{
    for (;;) {
        if (w->cap - w->len < 65536) {
            if (w->cap >= MCP_MESSAGE_MAX + 65536)
                return -1;
            w->cap = w->cap ? w->cap * 2 : 65536;
            w->buf = xrealloc(w->buf, w->cap);
        }
        ssize_t n = read(w->fd, w->buf + w->len, w->cap - w->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : 1;
        if (n == 0)
            return 1;
        w->len += (size_t)n;
        process_lines(w);
    }
}

/* Destroys the instances w announced, in a child (it may take a while). */
static void cleanup_instances(struct mcp_worker *w)
{
    struct mcp_server *srv = w->srv;
    if (!json_array_size(w->ephemeral))
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
        json_array_foreach(w->ephemeral, i, e) {
            struct instance inst;
            pyro_error err = {0};
            if (instance_open(srv->ctx, json_get_str(e, "kind", ""), json_get_str(e, "id", ""), &inst, &err) < 0)
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

void mcp_worker_cancel(struct mcp_worker *w)
{
    w->cancelled = true;
    if (w->pid > 0)
        kill(w->pid, SIGKILL);
    int st;
    reap(w, &st);
    if (w->fd >= 0)
        (void)drain(w); /* what it wrote before dying: the instances it made */
    stop_watching(w);
    cleanup_instances(w);
    worker_free(w);
}

/* The worker ended (or overran): reap it, make sure there is an outcome,
 * hand it over. */
static void finish(struct mcp_worker *w)
{
    int st = 0;
    reap(w, &st);
    stop_watching(w);
    if (!w->outcome) {
        char m[200];
        if (WIFSIGNALED(st))
            snprintf(m, sizeof(m), "%s: the worker process was killed by signal %d before it answered", w->op->name,
                     WTERMSIG(st));
        else
            snprintf(m, sizeof(m), "%s: the worker process exited with status %d before it answered", w->op->name,
                     WEXITSTATUS(st));
        w->outcome = json_pack("{s:{s:s, s:s}}", "error", "code", "internal", "message", m);
        cleanup_instances(w);
    }
    w->ev->done(w->data, w->outcome);
    worker_free(w);
}

static void worker_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct mcp_worker *w = data;
    int r = drain(w);
    if (r == 0)
        return;
    if (r < 0) {
        /* Larger than any message may be: stop it and say so. */
        kill(w->pid, SIGKILL);
        json_decref(w->outcome);
        char m[200];
        snprintf(m, sizeof(m), "%s: the result exceeds the %u-byte message limit", w->op->name, MCP_MESSAGE_MAX);
        w->outcome = json_pack("{s:{s:s, s:s}}", "error", "code", pyro_error_name(-PYRO_E_LIMIT), "message", m);
    }
    finish(w);
}
