/* Finding programs on $PATH (QEMU, git for --repo-url) and running them
 * with a deadline and a bounded capture of their output (doctor's QEMU
 * queries). */
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
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/timeutil.h"

extern char **environ;

static bool is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
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
    return err_set(err, -ENOENT, "%s not found on PATH", name);
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

int proc_capture(char *const argv[], int timeout_ms, size_t max, char **out, bool *truncated, int *status,
                 pyro_error *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
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
        return err_errno(err, r, "spawn %s", argv[0]);
    close(TAKE_FD(wfd));

    _cleanup_free_ char *buf = xmalloc(max + 1);
    size_t len = 0;
    *truncated = false;
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - time_mono_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            wait_child(pid, status);
            return err_set(err, -PYRO_E_TIMEOUT, "%s did not finish within %d ms", argv[0], timeout_ms);
        }
        struct pollfd pfd = {.fd = rfd, .events = POLLIN};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno != EINTR) {
            kill(pid, SIGKILL);
            wait_child(pid, status);
            return err_errno(err, errno, "poll");
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
        return err_errno(err, -r, "waitpid");
    *out = TAKE_PTR(buf);
    return 0;
}

/* Runs `qemu args...` and returns its output, failing on a non-zero exit. */
