#include "qemu_probe.h"

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
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "timeutil.h"

extern char **environ;

static bool is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int qemu_find_program(const char *name, char **out, pyro_error *err)
{
    if (strchr(name, '/')) {
        if (!is_executable_file(name))
            return pyro_err_set(err, -ENOENT, "%s is not an executable file", name);
        *out = xstrdup(name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path || !path[0])
        path = "/usr/local/bin:/usr/bin:/bin";
    _cleanup_free_ char *copy = xstrdup(path);
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        if (!dir[0])
            continue;
        _cleanup_free_ char *cand = xasprintf("%s/%s", dir, name);
        if (is_executable_file(cand)) {
            *out = TAKE_PTR(cand);
            return 0;
        }
    }
    return pyro_err_set(err, -ENOENT, "%s not found on PATH", name);
}

int qemu_find(char **out, pyro_error *err)
{
    return qemu_find_program(QEMU_BINARY, out, err);
}

static int wait_child(pid_t pid, int *status)
{
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR)
            return -errno;
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return 0;
}

int qemu_capture(char *const argv[], int timeout_ms, size_t max, char **out, bool *truncated, int *status,
                 pyro_error *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return pyro_err_errno(err, errno, "pipe");
    _cleanup_close_ int rfd = fds[0];
    _cleanup_close_ int wfd = fds[1];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, wfd, 1);
    posix_spawn_file_actions_adddup2(&fa, wfd, 2);
    pid_t pid;
    int r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        return pyro_err_errno(err, r, "spawn %s", argv[0]);
    close(TAKE_FD(wfd));

    _cleanup_free_ char *buf = xmalloc(max + 1);
    size_t len = 0;
    *truncated = false;
    int64_t deadline = pyro_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - pyro_mono_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            wait_child(pid, status);
            return pyro_err_set(err, -PYRO_E_TIMEOUT, "%s did not finish within %d ms", argv[0], timeout_ms);
        }
        struct pollfd pfd = {.fd = rfd, .events = POLLIN};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno != EINTR) {
            kill(pid, SIGKILL);
            wait_child(pid, status);
            return pyro_err_errno(err, errno, "poll");
        }
        if (n <= 0)
            continue;
        char chunk[4096];
        ssize_t got = read(rfd, chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t keep = (size_t)got <= max - len ? (size_t)got : max - len;
        memcpy(buf + len, chunk, keep);
        len += keep;
        if (keep < (size_t)got)
            *truncated = true;
    }
    buf[len] = '\0';
    r = wait_child(pid, status);
    if (r < 0)
        return pyro_err_errno(err, -r, "waitpid");
    *out = TAKE_PTR(buf);
    return 0;
}

/* Runs `qemu args...` and returns its output, failing on a non-zero exit. */
static int qemu_query(const char *qemu, const char *a1, const char *a2, char **out, pyro_error *err)
{
    char *argv[] = {(char *)qemu, (char *)a1, (char *)a2, NULL};
    bool truncated;
    int status;
    int r = qemu_capture(argv, QEMU_QUERY_TIMEOUT_MS, QEMU_QUERY_MAX_OUTPUT, out, &truncated, &status, err);
    if (r < 0)
        return pyro_err_prefix(err, "%s %s%s%s", qemu, a1, a2 ? " " : "", a2 ? a2 : "");
    if (status != 0) {
        _cleanup_free_ char *text = *out;
        *out = NULL;
        char *nl = strchr(text, '\n');
        if (nl)
            *nl = '\0';
        return pyro_err_set(err, -EIO, "%s %s%s%s exited with status %d: %.160s", qemu, a1, a2 ? " " : "",
                            a2 ? a2 : "", status, text);
    }
    return 0;
}

/* True when some line of text starts with word followed by a blank. */
static bool has_line_word(const char *text, const char *word)
{
    size_t wl = strlen(word);
    for (const char *line = text; line;) {
        if (!strncmp(line, word, wl) && (line[wl] == ' ' || line[wl] == '\t' || line[wl] == '\n' || !line[wl]))
            return true;
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    return false;
}

int qemu_probe(struct qemu_info *q, pyro_error *err)
{
    memset(q, 0, sizeof(*q));
    int r = qemu_find(&q->path, err);
    if (r < 0)
        return r;

    _cleanup_free_ char *ver = NULL;
    r = qemu_query(q->path, "--version", NULL, &ver, err);
    if (r < 0)
        return r;
    size_t n = strcspn(ver, "\n");
    snprintf(q->version_line, sizeof(q->version_line), "%.*s", (int)n, ver);
    const char *v = strstr(q->version_line, "version ");
    if (v)
        snprintf(q->version, sizeof(q->version), "%.*s", (int)strcspn(v + 8, " \t("), v + 8);

    _cleanup_free_ char *machines = NULL;
    r = qemu_query(q->path, "-machine", "help", &machines, err);
    if (r < 0)
        return r;
    q->microvm = has_line_word(machines, "microvm");

    _cleanup_free_ char *accels = NULL;
    r = qemu_query(q->path, "-accel", "help", &accels, err);
    if (r < 0)
        return r;
    q->accel_kvm = has_line_word(accels, "kvm");
    q->accel_tcg = has_line_word(accels, "tcg");
    log_debug("qemu %s: version %s microvm=%d kvm=%d tcg=%d", q->path, q->version, q->microvm, q->accel_kvm,
              q->accel_tcg);
    return 0;
}

void qemu_info_clear(struct qemu_info *q)
{
    free(q->path);
    q->path = NULL;
}
