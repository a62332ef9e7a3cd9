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
#include "base/timeutil.h"

#define EXEC_CAPTURE_DEFAULT (256u * 1024)
#define EXEC_CAPTURE_MAX (1u * 1024 * 1024)
#define EXEC_GRACE_MS 200
#define EXEC_ENV_MAX 4096

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

static void capture_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct capture *c = data;
    exec_on_pipe(c->job->agent, c->job, c == &c->job->err);
}

static int parse_signal(const json_t *v, int def, pyro_error *err)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {
        {"HUP", SIGHUP}, {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
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

/* argv from "argv" (array of strings) or "command" (run by /bin/sh -c). */
static int build_argv(const json_t *args, char ***out, pyro_error *err)
{
    const json_t *argv = json_object_get(args, "argv"), *cmd = json_object_get(args, "command");
    if ((argv != NULL) == (cmd != NULL))
        return err_set(err, -PYRO_E_INVALID, "exec needs exactly one of \"argv\" and \"command\"");
    if (cmd) {
        if (!json_is_string(cmd) || strlen(json_string_value(cmd)) != json_string_length(cmd))
            return err_set(err, -PYRO_E_INVALID, "\"command\" must be a string without NUL");
        char **v = xcalloc(4, sizeof(char *));
        v[0] = xstrdup("/bin/sh");
        v[1] = xstrdup("-c");
        v[2] = xstrdup(json_string_value(cmd));
        *out = v;
        return 0;
    }
    size_t n = json_array_size(argv);
    if (!json_is_array(argv) || n == 0 || n > 65536)
        return err_set(err, -PYRO_E_INVALID, "\"argv\" must be a non-empty array of strings");
    char **v = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(argv, i);
        if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
            strv_free(v);
            return err_set(err, -PYRO_E_INVALID, "\"argv\" must be an array of strings without NUL");
        }
        v[i] = xstrdup(json_string_value(s));
    }
    *out = v;
    return 0;
}

/* The child's environment: the defaults, overridden and extended by "env". */
static int build_env(const json_t *args, char ***out, pyro_error *err)
{
    const json_t *env = json_object_get(args, "env");
    if (env && !json_is_object(env))
        return err_set(err, -PYRO_E_INVALID, "\"env\" must be an object of strings");
    size_t n = ARRAY_SIZE(default_env) + json_object_size(env);
    if (n > EXEC_ENV_MAX)
        return err_set(err, -PYRO_E_INVALID, "\"env\" has too many entries");
    char **v = xcalloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < ARRAY_SIZE(default_env); i++) {
        size_t name_len = strchr(default_env[i], '=') - default_env[i];
        if (!env || !json_object_getn(env, default_env[i], name_len))
            v[k++] = xstrdup(default_env[i]);
    }
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)env, key, val)
    {
        if (!*key || strchr(key, '=') || !json_is_string(val) ||
            strlen(json_string_value(val)) != json_string_length(val)) {
            strv_free(v);
            return err_set(err, -PYRO_E_INVALID, "\"env\" entry '%s' is invalid", key);
        }
        v[k++] = xasprintf("%s=%s", key, json_string_value(val));
    }
    *out = v;
    return 0;
}

static size_t capture_limit(const json_t *args, const char *key)
{
    long long v = json_get_int(args, key, EXEC_CAPTURE_DEFAULT);
    if (v < 0)
        v = 0;
    return v > EXEC_CAPTURE_MAX ? EXEC_CAPTURE_MAX : (size_t)v;
}

static int pipe_for(int fds[2], pyro_error *err)
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    int fl = fcntl(fds[0], F_GETFL);
    (void)fcntl(fds[0], F_SETFL, fl | O_NONBLOCK);
    return 0;
}

static void __attribute__((noreturn))
child_exec(char **argv, char **envp, const char *cwd, int out_w, int err_w)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);
    (void)setsid();
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0)
        dup2(null, 0);
    else
        close(0);
    dup2(out_w, 1);
    dup2(err_w, 2);
    close_range(3, ~0U, 0);
    if (chdir(cwd) < 0) {
        dprintf(2, "pyro-agent: chdir %s: %s\n", cwd, strerror(errno));
        _exit(126);
    }
    environ = envp;
    execvp(argv[0], argv);
    int e = errno;
    dprintf(2, "pyro-agent: exec %s: %s\n", argv[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}

int op_exec(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    _cleanup_strv_ char **argv = NULL;
    _cleanup_strv_ char **envp = NULL;
    int r;

    r = build_argv(args, &argv, err);
    if (r < 0)
        return r;
    r = build_env(args, &envp, err);
    if (r < 0)
        return r;
    const char *cwd = json_get_str(args, "cwd", "/");
    struct stat st;
    if (stat(cwd, &st) < 0)
        return err_errno(err, errno, "cwd %s", cwd);
    if (!S_ISDIR(st.st_mode))
        return err_set(err, -ENOTDIR, "cwd %s is not a directory", cwd);
    long long timeout_ms = json_get_int(args, "timeout_ms", 0);
    if (timeout_ms < 0)
        return err_set(err, -PYRO_E_INVALID, "\"timeout_ms\" must be >= 0");

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
        child_exec(argv, envp, cwd, po[1], pe[1]);
    int fork_errno = errno;
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        return err_errno(err, fork_errno, "fork");
    }

    struct exec_job *j = xcalloc(1, sizeof(*j));
    j->id = req->id;
    j->pid = pid;
    j->start_ms = start;
    j->deadline_ms = timeout_ms ? start + timeout_ms : 0;
    j->agent = a;
    j->out = (struct capture){.fd = po[0], .max = capture_limit(args, "stdout_max"), .job = j};
    j->err = (struct capture){.fd = pe[0], .max = capture_limit(args, "stderr_max"), .job = j};
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

void exec_on_pipe(struct agent *a, struct exec_job *j, bool is_stderr)
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
        for (struct exec_job *j = a->execs; j; j = j->next)
            if (j->pid == pid && !j->exited) {
                j->exited = true;
                j->status = status;
                j->exit_ms = time_mono_ms();
            }
    }
}

static void capture_result(json_t *r, const char *name, const struct capture *c)
{
    size_t replaced = 0;
    char key[64];

    json_set(r, name, json_bytes(c->buf, c->len, &replaced));
    snprintf(key, sizeof(key), "%s_truncated", name);
    json_set(r, key, json_boolean(c->dropped > 0));
    snprintf(key, sizeof(key), "%s_dropped_bytes", name);
    json_set(r, key, json_integer((json_int_t)c->dropped));
    snprintf(key, sizeof(key), "%s_replaced", name);
    json_set(r, key, json_integer((json_int_t)replaced));
}

static void job_finish(struct agent *a, struct exec_job *j)
{
    json_t *r = json_object();
    int code = 0;

    if (WIFEXITED(j->status))
        code = WEXITSTATUS(j->status);
    else if (WIFSIGNALED(j->status))
        code = 128 + WTERMSIG(j->status);
    json_set(r, "exit_code", json_integer(code));
    if (WIFSIGNALED(j->status))
        json_set(r, "signal", json_integer(WTERMSIG(j->status)));
    json_set(r, "timed_out", json_boolean(j->timed_out));
    json_set(r, "duration_ms", json_integer(j->exit_ms - j->start_ms));
    json_set(r, "pid", json_integer(j->pid));
    capture_result(r, "stdout", &j->out);
    capture_result(r, "stderr", &j->err);
    agent_reply_ok(a, j->id, r, NULL, 0);
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
            exec_on_pipe(a, j, false);
            exec_on_pipe(a, j, true);
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
        return err_set(err, -PYRO_E_NOT_FOUND, "no running exec with id %lld",
                            (long long)json_integer_value(target));
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
