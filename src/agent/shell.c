/* The shell ops: shell_open, shell_read, shell_write, shell_signal,
 * shell_close. The agent keeps every shell (its PTY master, process and
 * output ring, shell_pty.c) in its own memory, so a shell outlives the
 * connection that opened it and any client reads it by cursor. A read
 * with wait_for_idle_ms is answered later, from a loop timer, once the
 * output has been quiet that long (at most SHELL_WAIT_MAX_MS). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/shell.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "proto/defaults.h"

#define SHELL_ID_MAX 15

static const char *const default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
    "TERM=xterm-256color",
};

static struct shell *shell_find(struct agent *a, const json_t *args, pyro_error *err)
{
    const char *id = json_get_str(args, "shell_id", NULL);
    if (!id)
        return err_set(err, -PYRO_E_INVALID, "\"shell_id\" must be a string"), NULL;
    for (struct shell *s = a->shells; s; s = s->next)
        if (!strcmp(s->id, id))
            return s;
    err_set(err, -PYRO_E_NOT_FOUND, "no shell %.*s in this workspace", SHELL_ID_MAX, id);
    return NULL;
}

static const char *shell_state(const struct shell *sh)
{
    return sh->exited ? "exited" : "running";
}

/* The keys every shell result has. */
static json_t *shell_result(const struct shell *sh)
{
    json_t *r = json_object();
    json_set(r, "shell_id", json_string(sh->id));
    json_set(r, "state", json_string(shell_state(sh)));
    json_set(r, "cols", json_integer(sh->cols));
    json_set(r, "rows", json_integer(sh->rows));
    if (sh->exited) {
        if (WIFEXITED(sh->status))
            json_set(r, "exit_code", json_integer(WEXITSTATUS(sh->status)));
        if (WIFSIGNALED(sh->status)) {
            json_set(r, "exit_signal", json_integer(WTERMSIG(sh->status)));
            json_set(r, "exit_code", json_integer(128 + WTERMSIG(sh->status)));
        }
    }
    return r;
}

static void reply_read(struct agent *a, int64_t id, struct shell *sh, uint64_t cursor, size_t max)
{
    uint8_t *data;
    size_t len;
    bool truncated;
    shell_ring_get(&sh->out, &cursor, max, &data, &len, &truncated);
    json_t *r = shell_result(sh);
    json_set(r, "cursor", json_integer((json_int_t)cursor));
    json_set(r, "next_cursor", json_integer((json_int_t)(cursor + len)));
    json_set(r, "bytes", json_integer((json_int_t)len));
    json_set(r, "truncated", json_boolean(truncated));
    json_set(r, "end", json_integer((json_int_t)sh->out.end));
    agent_reply_ok(a, id, r, data, len);
    free(data);
}

/* True once the shell can produce no more output. */
static bool shell_done(const struct shell *sh)
{
    return sh->exited && sh->master < 0;
}

static void wait_unlink(struct shell *sh, struct shell_wait *w)
{
    for (struct shell_wait **pp = &sh->waits; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            return;
        }
}

static int64_t wait_due(struct ae_loop *loop, int64_t timer, void *data)
{
    struct shell_wait *w = data;
    struct shell *sh = w->shell;
    int64_t now = time_mono_ms();
    int64_t quiet_since = sh->last_output_ms > w->begin_ms ? sh->last_output_ms : w->begin_ms;
    int64_t idle_at = quiet_since + w->idle_ms;
    if (now < idle_at && now < w->deadline_ms && !shell_done(sh))
        return (idle_at < w->deadline_ms ? idle_at : w->deadline_ms) - now;
    wait_unlink(sh, w);
    reply_read(w->agent, w->id, sh, w->cursor, w->max);
    free(w);
    return AE_NOMORE;
}

/* Ends every waiting read (the shell closes): answered with what there
 * is when reply, else dropped (the agent ends). */
static void waits_flush(struct agent *a, struct shell *sh, bool reply)
{
    while (sh->waits) {
        struct shell_wait *w = sh->waits;
        sh->waits = w->next;
        ae_timer_del(a->loop, w->timer);
        if (reply)
            reply_read(a, w->id, sh, w->cursor, w->max);
        free(w);
    }
}

static void master_close(struct agent *a, struct shell *sh)
{
    if (sh->master < 0)
        return;
    ae_file_del(a->loop, sh->master, AE_READABLE | AE_WRITABLE);
    close(sh->master);
    sh->master = -1;
    sh->in_len = 0;
}

/* Output: a bounded number of rounds per event, into the ring. */
static void master_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct shell *sh = data;
    uint8_t buf[65536];

    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            /* EIO: no process holds the terminal any more. */
            ae_file_del(loop, fd, AE_READABLE | AE_WRITABLE);
            close(fd);
            sh->master = -1;
            sh->in_len = 0;
            break;
        }
        shell_ring_put(&sh->out, buf, (size_t)n);
        sh->last_output_ms = time_mono_ms();
    }
}

static void master_writable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct shell *sh = data;
    if (shell_pty_flush_input(sh) < 0)
        sh->in_len = 0;
    if (!sh->in_len)
        ae_file_del(loop, fd, AE_WRITABLE);
}

static char **build_env(const json_t *env, pyro_error *err)
{
    if (env && !json_is_object(env))
        return err_set(err, -PYRO_E_INVALID, "\"env\" must be an object of strings"), NULL;
    size_t n = ARRAY_SIZE(default_env) + json_object_size(env) + 1, k = 0;
    char **v = xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < ARRAY_SIZE(default_env); i++) {
        size_t name_len = (size_t)(strchr(default_env[i], '=') - default_env[i]);
        _cleanup_free_ char *name = strndup(default_env[i], name_len);
        if (!json_object_get(env, name))
            v[k++] = xstrdup(default_env[i]);
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)env, key, val) {
        if (!json_is_string(val) || !*key || strchr(key, '=') || strlen(key) > 128 ||
            memchr(json_string_value(val), 0, json_string_length(val))) {
            strv_free(v);
            return err_set(err, -PYRO_E_INVALID, "\"env\": %.64s must be a NAME without '=' with a string value", key),
                   NULL;
        }
        v[k++] = xasprintf("%s=%s", key, json_string_value(val));
    }
    return v;
}

static int dim_arg(const json_t *args, const char *key, int def, pyro_error *err)
{
    const json_t *v = json_object_get(args, key);
    if (!v)
        return def;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > SHELL_DIM_MAX)
        return err_set(err, -PYRO_E_INVALID, "\"%s\" must be an integer from 1 to %d", key, SHELL_DIM_MAX);
    return (int)json_integer_value(v);
}

int op_shell_open(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    int cols = dim_arg(args, "cols", PROTO_SHELL_COLS, err);
    if (cols < 0)
        return cols;
    int rows = dim_arg(args, "rows", PROTO_SHELL_ROWS, err);
    if (rows < 0)
        return rows;
    const char *cwd = json_get_str(args, "cwd", "/workspace");
    struct stat st;
    if (*cwd != '/' || strlen(cwd) > 4096)
        return err_set(err, -PYRO_E_INVALID, "\"cwd\" must be an absolute path");
    if (stat(cwd, &st) < 0)
        return err_errno(err, errno, "cwd %s", cwd);
    if (!S_ISDIR(st.st_mode))
        return err_set(err, -ENOTDIR, "cwd %s is not a directory", cwd);
    size_t count = 0;
    for (struct shell *s = a->shells; s; s = s->next)
        count++;
    if (count >= SHELL_MAX)
        return err_set(err, -PYRO_E_LIMIT, "this workspace already has %d shells, the most it keeps: close one first",
                       SHELL_MAX);
    _cleanup_strv_ char **envp = build_env(json_object_get(args, "env"), err);
    if (!envp)
        return err->code;

    struct shell *sh = xcalloc(1, sizeof(*sh));
    snprintf(sh->id, sizeof(sh->id), "shell-%d", ++a->shell_seq);
    sh->cols = cols;
    sh->rows = rows;
    sh->cwd = xstrdup(cwd);
    sh->master = -1;
    int r = shell_pty_spawn(sh, envp, err);
    if (r < 0) {
        free(sh->cwd);
        free(sh);
        return r;
    }
    sh->out.buf = xmalloc(SHELL_RING);
    sh->in = xmalloc(SHELL_INPUT_MAX);
    sh->started_ms = time_wall_ms();
    sh->last_output_ms = time_mono_ms();
    sh->next = a->shells;
    a->shells = sh;
    /* Cannot fail short of ENOMEM. */
    (void)ae_file_add(a->loop, sh->master, AE_READABLE, master_readable, sh, NULL);
    json_t *res = shell_result(sh);
    json_set(res, "cwd", json_string(sh->cwd));
    json_set(res, "pid", json_integer(sh->pid));
    json_set(res, "started_ms", json_integer(sh->started_ms));
    agent_reply_ok(a, req->id, res, NULL, 0);
    return 0;
}

int op_shell_read(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    struct shell *sh = shell_find(a, args, err);
    if (!sh)
        return err->code;
    json_int_t cursor = json_get_int(args, "cursor", 0);
    json_int_t max = json_get_int(args, "max_bytes", PROTO_SHELL_READ);
    json_int_t idle = json_get_int(args, "wait_for_idle_ms", 0);
    if (cursor < 0 || (uint64_t)cursor > sh->out.end)
        return err_set(err, -PYRO_E_INVALID, "\"cursor\" must be from 0 to %llu (the output's end)",
                       (unsigned long long)sh->out.end);
    if (max < 1 || max > PROTO_BODY_MAX)
        return err_set(err, -PYRO_E_INVALID, "\"max_bytes\" must be from 1 to %u", PROTO_BODY_MAX);
    if (idle < 0 || idle > SHELL_IDLE_MAX_MS)
        return err_set(err, -PYRO_E_INVALID, "\"wait_for_idle_ms\" must be from 0 to %d", SHELL_IDLE_MAX_MS);
    if (!idle || shell_done(sh)) {
        reply_read(a, req->id, sh, (uint64_t)cursor, (size_t)max);
        return 0;
    }
    struct shell_wait *w = xcalloc(1, sizeof(*w));
    w->agent = a;
    w->shell = sh;
    w->id = req->id;
    w->cursor = (uint64_t)cursor;
    w->max = (size_t)max;
    w->idle_ms = (int)idle;
    w->begin_ms = time_mono_ms();
    w->deadline_ms = w->begin_ms + SHELL_WAIT_MAX_MS;
    w->timer = ae_timer_add(a->loop, idle, wait_due, w);
    w->next = sh->waits;
    sh->waits = w;
    return 0;
}

int op_shell_write(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    struct shell *sh = shell_find(a, args, err);
    if (!sh)
        return err->code;
    const json_t *in = json_object_get(args, "input");
    if (!json_is_string(in))
        return err_set(err, -PYRO_E_INVALID, "\"input\" must be a string");
    size_t len = json_string_length(in);
    if (sh->master < 0)
        return err_set(err, -PYRO_E_STATE, "shell %s has ended (its terminal is closed)", sh->id);
    if (len > SHELL_INPUT_MAX - sh->in_len)
        return err_set(err, -PYRO_E_LIMIT, "%zu bytes of input do not fit: %zu are still waiting for the shell", len,
                       sh->in_len);
    memcpy(sh->in + sh->in_len, json_string_value(in), len);
    sh->in_len += len;
    if (shell_pty_flush_input(sh) < 0)
        sh->in_len = 0;
    if (sh->in_len)
        (void)ae_file_add(a->loop, sh->master, AE_WRITABLE, master_writable, sh, NULL);
    json_t *r = shell_result(sh);
    json_set(r, "bytes", json_integer((json_int_t)len));
    json_set(r, "pending", json_integer((json_int_t)sh->in_len));
    agent_reply_ok(a, req->id, r, NULL, 0);
    return 0;
}

int op_shell_signal(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"INT", SIGINT}, {"TERM", SIGTERM}, {"HUP", SIGHUP}, {"KILL", SIGKILL}, {"QUIT", SIGQUIT}};
    const json_t *args = json_object_get(req->hdr, "args");
    struct shell *sh = shell_find(a, args, err);
    if (!sh)
        return err->code;
    const char *name = json_get_str(args, "signal", "INT");
    if (!strncmp(name, "SIG", 3))
        name += 3;
    int sig = 0;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (!strcmp(names[i].name, name))
            sig = names[i].sig;
    if (!sig)
        return err_set(err, -PYRO_E_INVALID, "\"signal\" must be one of INT, TERM, HUP, KILL, QUIT");
    if (sh->exited)
        return err_set(err, -PYRO_E_STATE, "shell %s has exited", sh->id);
    pid_t pg = shell_pty_foreground(sh);
    if (kill(-pg, sig) < 0)
        return err_errno(err, errno, "signal the process group %d", (int)pg);
    json_t *r = shell_result(sh);
    json_set(r, "signal", json_string(name));
    json_set(r, "pgid", json_integer(pg));
    agent_reply_ok(a, req->id, r, NULL, 0);
    return 0;
}

static void shell_free(struct agent *a, struct shell *sh, bool reply)
{
    waits_flush(a, sh, reply);
    /* Once the shell is reaped its pid may be reused, unless a process of
     * its session still exists; one that holds the terminal (the master is
     * not hung up yet) is such a process. */
    if (!sh->exited || sh->master >= 0)
        shell_pty_kill_session(sh);
    master_close(a, sh);
    free(sh->out.buf);
    free(sh->in);
    free(sh->cwd);
    free(sh);
}

int op_shell_close(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    json_t *r;
    if (json_get_bool(args, "all", false)) {
        size_t n = 0;
        while (a->shells) {
            struct shell *sh = a->shells;
            a->shells = sh->next;
            shell_free(a, sh, true);
            n++;
        }
        r = json_object();
        json_set(r, "closed", json_integer((json_int_t)n));
    } else {
        struct shell *sh = shell_find(a, args, err);
        if (!sh)
            return err->code;
        for (struct shell **pp = &a->shells; *pp; pp = &(*pp)->next)
            if (*pp == sh) {
                *pp = sh->next;
                break;
            }
        r = shell_result(sh);
        json_set(r, "state", json_string("closed"));
        json_set(r, "closed", json_integer(1));
        shell_free(a, sh, true);
    }
    agent_reply_ok(a, req->id, r, NULL, 0);
    return 0;
}

void shell_reaped(struct agent *a, pid_t pid, int status)
{
    for (struct shell *sh = a->shells; sh; sh = sh->next)
        if (sh->pid == pid && !sh->exited) {
            sh->exited = true;
            sh->status = status;
        }
}

bool shell_wait_busy(struct agent *a, int64_t id)
{
    for (struct shell *sh = a->shells; sh; sh = sh->next)
        for (struct shell_wait *w = sh->waits; w; w = w->next)
            if (w->id == id)
                return true;
    return false;
}

void shell_free_all(struct agent *a)
{
    while (a->shells) {
        struct shell *sh = a->shells;
        a->shells = sh->next;
        shell_free(a, sh, false);
    }
}
