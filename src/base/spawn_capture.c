#include "base/spawn_capture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/timeutil.h"

extern char **environ;

#define SYSTEM_DIRS "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static bool is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static char *search_dirs(const char *dirs, const char *name)
{
    _cleanup_free_ char *copy = xstrdup(dirs);
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        if (dir[0] != '/')
            continue; /* "" and relative entries would depend on the cwd */
        char *cand = xasprintf("%s/%s", dir, name);
        if (is_executable_file(cand))
            return cand;
        free(cand);
    }
    return NULL;
}

int proc_find_program(const char *name, char **out, pyro_error *err)
{
    if (strchr(name, '/')) {
        if (!is_executable_file(name))
            return err_set(err, -ENOENT, "%s is not an executable file", name);
        *out = xstrdup(name);
        return 0;
    }
    const char *path = getenv("PATH");
    char *found = search_dirs(path && path[0] ? path : SYSTEM_DIRS, name);
    if (!found)
        return err_set(err, -ENOENT, "%s not found on PATH", name);
    *out = found;
    return 0;
}

/* base with the entries of env set (replacing a variable of the same
 * name); the strings are not copied. */
static char **env_merge(char *const *base, char *const *env)
{
    size_t n = 0, k = 0, extra = 0;
    while (base[n])
        n++;
    while (env && env[extra])
        extra++;
    char **out = xcalloc(n + extra + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < extra && !replaced; j++) {
            size_t nl = strcspn(env[j], "=");
            replaced = !strncmp(base[i], env[j], nl) && base[i][nl] == '=';
        }
        if (!replaced)
            out[k++] = base[i];
    }
    for (size_t j = 0; j < extra; j++)
        out[k++] = env[j];
    return out;
}

static int spawn_child(char *const argv[], const struct proc_opts *o, int out_w, int err_w, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (o->stdin_fd > 2)
        posix_spawn_file_actions_adddup2(&fa, o->stdin_fd, 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (o->cwd)
        posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    posix_spawn_file_actions_adddup2(&fa, err_w, 2);
    if (o->pass_fd > 2)
        posix_spawn_file_actions_adddup2(&fa, o->pass_fd, 3);
    posix_spawn_file_actions_addclosefrom_np(&fa, o->pass_fd > 2 ? 4 : 3);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    _cleanup_free_ char **envp = o->env || o->envp ? env_merge(o->envp ? o->envp : environ, o->env) : NULL;
    int r = posix_spawn(pid, argv[0], &fa, &at, argv, envp ? envp : environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return r;
}

/* Kills the child's group and reaps the child. */
static void kill_reap(pid_t pid)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

int proc_reap_by(pid_t pid, int64_t deadline, int *status)
{
    for (;;) {
        int ws;
        pid_t w = waitpid(pid, &ws, WNOHANG);
        if (w == pid) {
            *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
            return 0;
        }
        if (w < 0 && errno != EINTR)
            return -errno;
        if (time_mono_ms() >= deadline) {
            kill_reap(pid);
            return -PYRO_E_TIMEOUT;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void append(struct proc_result *res, const char *buf, size_t n, size_t max)
{
    size_t keep = n <= max - res->len ? n : max - res->len;
    if (keep < n)
        res->truncated = true;
    if (!keep)
        return;
    res->out = xrealloc(res->out, res->len + keep + 1);
    memcpy(res->out + res->len, buf, keep);
    res->len += keep;
    res->out[res->len] = '\0';
}

int proc_spawn(char *const argv[], const struct proc_opts *o, struct proc_result *res, pyro_error *err)
{
    memset(res, 0, sizeof(*res));
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    _cleanup_close_ int out_r = p[0], out_w = p[1], err_r = -1, err_w = -1;
    if (!o->merge_stderr) {
        if (pipe2(p, O_CLOEXEC) < 0)
            return err_errno(err, errno, "pipe");
        err_r = p[0];
        err_w = p[1];
    }
    pid_t pid;
    int r = spawn_child(argv, o, out_w, o->merge_stderr ? out_w : err_w, &pid);
    if (r != 0)
        return err_errno(err, r, "run %s", argv[0]);
    close(TAKE_FD(out_w));
    if (err_w >= 0)
        close(TAKE_FD(err_w));

    int64_t deadline = time_mono_ms() + o->timeout_ms;
    size_t err_len = 0;
    struct pollfd pf[2] = {{.fd = out_r, .events = POLLIN}, {.fd = err_r, .events = POLLIN}};
    while (pf[0].fd >= 0 || pf[1].fd >= 0) {
        int64_t left = deadline - time_mono_ms();
        if (left <= 0) {
            kill_reap(pid);
            proc_result_free(res);
            return err_set(err, -PYRO_E_TIMEOUT, "%s did not finish within %d ms", argv[0], o->timeout_ms);
        }
        int n = poll(pf, 2, (int)left);
        if (n < 0 && errno != EINTR) {
            int e = errno;
            kill_reap(pid);
            proc_result_free(res);
            return err_errno(err, e, "poll");
        }
        for (int i = 0; n > 0 && i < 2; i++) {
            if (pf[i].fd < 0 || !pf[i].revents)
                continue;
            char chunk[4096];
            ssize_t got = read(pf[i].fd, chunk, sizeof(chunk));
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0) {
                pf[i].fd = -1; /* EOF (or an error: nothing more to read) */
                continue;
            }
            if (i == 0) {
                append(res, chunk, (size_t)got, o->max_output);
            } else if (err_len + 1 < sizeof(res->err_text)) {
                size_t take = (size_t)got < sizeof(res->err_text) - 1 - err_len ? (size_t)got
                                                                                : sizeof(res->err_text) - 1 - err_len;
                memcpy(res->err_text + err_len, chunk, take);
                err_len += take;
                res->err_text[err_len] = '\0';
            }
        }
    }
    if (!res->out)
        res->out = xstrdup("");
    r = proc_reap_by(pid, deadline, &res->status);
    if (r < 0) {
        proc_result_free(res);
        return r == -PYRO_E_TIMEOUT ? err_set(err, r, "%s did not finish within %d ms", argv[0], o->timeout_ms)
                                    : err_errno(err, -r, "waitpid");
    }
    return 0;
}

void proc_result_free(struct proc_result *res)
{
    free(res->out);
    memset(res, 0, sizeof(*res));
}

int proc_capture(char *const argv[], int timeout_ms, size_t max, char **out, bool *truncated, int *status,
                 pyro_error *err)
{
    struct proc_opts o = {.timeout_ms = timeout_ms, .max_output = max, .merge_stderr = true};
    struct proc_result res;
    *out = NULL;
    *truncated = false;
    int r = proc_spawn(argv, &o, &res, err);
    if (r < 0)
        return r;
    *out = TAKE_PTR(res.out);
    *truncated = res.truncated;
    *status = res.status;
    return 0;
}

int proc_run(char *const argv[], int timeout_ms, char **out, pyro_error *err)
{
    struct proc_opts o = {.timeout_ms = timeout_ms, .max_output = PROC_RUN_OUTPUT_MAX};
    struct proc_result res;
    int r = proc_spawn(argv, &o, &res, err);
    if (r < 0)
        return r;
    if (res.status != 0 || res.truncated) {
        char cmdline[512] = "";
        for (size_t i = 0, used = 0; argv[i] && used < sizeof(cmdline) - 1; i++)
            used += (size_t)snprintf(cmdline + used, sizeof(cmdline) - used, "%s%s", i ? " " : "", argv[i]);
        res.err_text[strcspn(res.err_text, "\n")] = '\0';
        if (res.truncated)
            r = err_set(err, -PYRO_E_LIMIT, "'%s' printed more than %u bytes", cmdline, PROC_RUN_OUTPUT_MAX);
        else
            r = err_set(err, -EIO, "'%s' failed (exit status %d): %s", cmdline, res.status,
                        res.err_text[0] ? res.err_text : "no message");
        proc_result_free(&res);
        return r;
    }
    if (out)
        *out = TAKE_PTR(res.out);
    proc_result_free(&res);
    return 0;
}
