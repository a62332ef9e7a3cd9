/* exec and kill: each command runs in its own session and process group
 * with stdout and stderr on separate pipes that the event loop drains into
 * bounded buffers. A deadline SIGKILLs the whole group. The response is
 * sent when the leader has been reaped and both pipes reached EOF (or a
 * short grace period after the leader's exit, for daemons that keep the
 * pipes open). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/proc.h"
#include "base/timeutil.h"
#include "proto/exec.h"

#define EXEC_GRACE_MS 200

static const char *const default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
};

struct capture {
    char *buf;
    size_t len, max;
    uint64_t dropped;
    int fd;
    struct exec_job *job;
};

struct exec_job {
    struct exec_job *next;
    int64_t id;
    pid_t pid;
    int status;
    bool exited, timed_out;
    int64_t start_ms, deadline_ms, exit_ms;
    struct capture out, err;
    struct agent *agent;
};

struct exec_job *exec_find(struct agent *a, int64_t id)
{
    for (struct exec_job *j = a->execs; j; j = j->next)
        if (j->id == id)
            return j;
    return NULL;
}

static void capture_close(struct agent *a, struct capture *c)
{
    if (c->fd < 0)
        return;
    ae_file_del(a->loop, c->fd, AE_READABLE);
    close(c->fd);
    c->fd = -1;
}

static void job_free(struct agent *a, struct exec_job *j)
{
    capture_close(a, &j->out);
    capture_close(a, &j->err);
    free(j->out.buf);
    free(j->err.buf);
    free(j);
}

static void capture_drain(struct agent *a, struct exec_job *j, bool is_stderr);

static void capture_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct capture *c = data;
    capture_drain(c->job->agent, c->job, c == &c->job->err);
}

static int parse_signal(const json_t *v, int def, pyro_error *err)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
        {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
    };
    if (!v)
        return def;
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < NSIG)
        return (int)json_integer_value(v);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strncmp(s, "SIG", 3) == 0)
            s += 3;
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
            if (strcmp(names[i].name, s) == 0)
                return names[i].sig;
    }
    return err_set(err, -PYRO_E_INVALID, "\"signal\" must be a signal number or name");
}

/* argv for execvp: the request's, or /bin/sh -c command. */
static char **build_argv(const struct proto_exec_request *req)
{
    if (req->command) {
        char **v = xcalloc(4, sizeof(char *));
        v[0] = xstrdup("/bin/sh");
        v[1] = xstrdup("-c");
        v[2] = xstrdup(req->command);
        return v;
    }
    size_t n = 0;
    while (req->argv[n])
        n++;
    char **v = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        v[i] = xstrdup(req->argv[i]);
    return v;
}

/* The child's environment: the defaults, overridden and extended by the
 * request's entries. */
static char **build_env(const struct proto_exec_request *req)
{
    char **v = xcalloc(ARRAY_SIZE(default_env) + req->env_count + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < ARRAY_SIZE(default_env); i++) {
        size_t name_len = (size_t)(strchr(default_env[i], '=') - default_env[i]);
        bool overridden = false;
        for (size_t j = 0; j < req->env_count; j++)
            overridden |= strlen(req->env[j].name) == name_len && !strncmp(req->env[j].name, default_env[i], name_len);
        if (!overridden)
            v[k++] = xstrdup(default_env[i]);
    }
    for (size_t j = 0; j < req->env_count; j++)
        v[k++] = xasprintf("%s=%s", req->env[j].name, req->env[j].value);
    return v;
}

static int pipe_for(int fds[2], pyro_error *err)
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    int fl = fcntl(fds[0], F_GETFL);
    (void)fcntl(fds[0], F_SETFL, fl | O_NONBLOCK);
    return 0;
}

static void __attribute__((noreturn)) child_exec(char **argv, char **envp, const char *cwd, int out_w, int err_w)
{
    proc_signals_default();
    childio_setup(cwd, -1, out_w, err_w);
    environ = envp;
    execvp(argv[0], argv);
    int e = errno;
    dprintf(2, "pyro-agent: exec %s: %s\n", argv[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}

/* Forks the command with its pipes and registers the job. */
static int exec_start(struct agent *a, int64_t id, const struct proto_exec_request *x, pyro_error *err)
{
    _cleanup_strv_ char **argv = build_argv(x);
    _cleanup_strv_ char **envp = build_env(x);
    int r;

    int po[2], pe[2];
    r = pipe_for(po, err);
    if (r < 0)
        return r;
    r = pipe_for(pe, err);
    if (r < 0) {
        close(po[0]);
        close(po[1]);
        return r;
    }
    int64_t start = time_mono_ms();
    pid_t pid = fork();
    if (pid == 0)
        child_exec(argv, envp, x->cwd, po[1], pe[1]);
    int fork_errno = errno;
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        return err_errno(err, fork_errno, "fork");
    }

    struct exec_job *j = xcalloc(1, sizeof(*j));
    j->id = id;
    j->pid = pid;
    j->start_ms = start;
    j->deadline_ms = x->timeout_ms ? start + x->timeout_ms : 0;
    j->agent = a;
    j->out = (struct capture){.fd = po[0], .max = x->stdout_max, .job = j};
    j->err = (struct capture){.fd = pe[0], .max = x->stderr_max, .job = j};
    j->out.buf = xmalloc(j->out.max + 1);
    j->err.buf = xmalloc(j->err.max + 1);
    j->next = a->execs;
    a->execs = j;
    /* Cannot fail short of ENOMEM; a pipe that is not watched is closed at
     * the end of the grace period, so the request still completes. */
    (void)ae_file_add(a->loop, j->out.fd, AE_READABLE, capture_readable, &j->out, NULL);
    (void)ae_file_add(a->loop, j->err.fd, AE_READABLE, capture_readable, &j->err, NULL);
    return 0;
}

int op_exec(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    struct proto_exec_request x;
    int r = proto_exec_request_unpack(json_object_get(req->hdr, "args"), &x, err);
    if (r < 0)
        return r;
    struct stat st;
    if (stat(x.cwd, &st) < 0) {
        r = err_errno(err, errno, "cwd %s", x.cwd);
        proto_exec_request_clear(&x);
        return r;
    }
    if (!S_ISDIR(st.st_mode)) {
        r = err_set(err, -ENOTDIR, "cwd %s is not a directory", x.cwd);
        proto_exec_request_clear(&x);
        return r;
    }
    r = exec_start(a, req->id, &x, err);
    proto_exec_request_clear(&x);
    return r;
}

/* Reads what a pipe holds now (a bounded number of rounds, so that one
 * chatty command does not starve the loop). */
static void capture_drain(struct agent *a, struct exec_job *j, bool is_stderr)
{
    struct capture *c = is_stderr ? &j->err : &j->out;
    char buf[65536];

    for (int rounds = 0; rounds < 16 && c->fd >= 0; rounds++) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            capture_close(a, c);
            return;
        }
        size_t keep = c->max - c->len < (size_t)n ? c->max - c->len : (size_t)n;
        memcpy(c->buf + c->len, buf, keep);
        c->len += keep;
        c->dropped += (size_t)n - keep;
    }
}

void exec_reap(struct agent *a)
{
    int status;
    pid_t pid;

    /* As PID 1 (or subreaper) every orphan lands here too. */
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        bool mine = false;
        for (struct exec_job *j = a->execs; j; j = j->next)
            if (j->pid == pid && !j->exited) {
                j->exited = mine = true;
                j->status = status;
                j->exit_ms = time_mono_ms();
            }
        if (!mine && !service_reaped(a, pid, status))
            shell_reaped(a, pid, status);
    }
}

static void job_finish(struct agent *a, struct exec_job *j)
{
    struct proto_exec_result r = {
        .timed_out = j->timed_out,
        .duration_ms = j->exit_ms - j->start_ms,
        .pid = j->pid,
    };
    if (WIFEXITED(j->status))
        r.exit_code = WEXITSTATUS(j->status);
    if (WIFSIGNALED(j->status)) {
        r.signal = WTERMSIG(j->status);
        r.exit_code = 128 + r.signal;
    }
    proto_exec_stream_set(&r.out, j->out.buf, j->out.len, j->out.dropped);
    proto_exec_stream_set(&r.err, j->err.buf, j->err.len, j->err.dropped);
    json_t *res = json_object();
    proto_exec_result_pack(&r, false, res);
    proto_exec_result_clear(&r);
    agent_reply_durable(a, j->id, res);
}

int exec_tick(struct agent *a)
{
    int64_t now = time_mono_ms(), next = -1;

    for (struct exec_job **pp = &a->execs; *pp;) {
        struct exec_job *j = *pp;
        if (!j->exited && j->deadline_ms && now >= j->deadline_ms && !j->timed_out) {
            j->timed_out = true;
            (void)kill(-j->pid, SIGKILL);
            (void)kill(j->pid, SIGKILL);
        }
        if (j->exited && now >= j->exit_ms + EXEC_GRACE_MS) {
            /* Drain what is buffered, then stop waiting for daemons that
             * inherited the pipes. */
            capture_drain(a, j, false);
            capture_drain(a, j, true);
            capture_close(a, &j->out);
            capture_close(a, &j->err);
        }
        if (j->exited && j->out.fd < 0 && j->err.fd < 0) {
            job_finish(a, j);
            *pp = j->next;
            job_free(a, j);
            continue;
        }
        int64_t d = -1;
        if (j->exited)
            d = j->exit_ms + EXEC_GRACE_MS;
        else if (j->deadline_ms && !j->timed_out)
            d = j->deadline_ms;
        if (d >= 0 && (next < 0 || d < next))
            next = d;
        pp = &j->next;
    }
    if (next < 0)
        return -1;
    return next > now ? (int)(next - now) : 0;
}

int op_kill(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    const json_t *target = json_object_get(args, "target");
    if (!json_is_integer(target))
        return err_set(err, -PYRO_E_INVALID, "\"target\" must be the id of an exec request");
    int sig = parse_signal(json_object_get(args, "signal"), SIGKILL, err);
    if (sig < 0)
        return sig;
    struct exec_job *j = exec_find(a, json_integer_value(target));
    if (!j)
        return err_set(err, -PYRO_E_NOT_FOUND, "no running exec with id %lld", (long long)json_integer_value(target));
    if (kill(-j->pid, sig) < 0 && !j->exited)
        (void)kill(j->pid, sig);
    json_t *r = json_object();
    json_set(r, "target", json_integer(j->id));
    json_set(r, "signal", json_integer(sig));
    agent_reply_ok(a, req->id, r, NULL, 0);
    return 0;
}

void exec_free_all(struct agent *a)
{
    while (a->execs) {
        struct exec_job *j = a->execs;
        a->execs = j->next;
        if (!j->exited)
            (void)kill(-j->pid, SIGKILL);
        job_free(a, j);
    }
}
