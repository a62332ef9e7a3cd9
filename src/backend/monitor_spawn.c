/* Starting a detached monitor from any process (CLI, MCP server, a C
 * program): double fork into a new session so the monitor outlives its
 * starter and is never its zombie, then wait for its one-line report. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/monitor.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/timeutil.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void monitor_detach(const struct monitor_config *cfg, int ready_fd)
{
    /* Only the report pipe survives; everything else the starter had open
     * (its MCP stdio, sockets, locks) must not be held by the monitor. */
    int keep = fcntl(ready_fd, F_DUPFD_CLOEXEC, 3);
    if (keep != 3) {
        /* ready_fd sits above 3 after this; everything else goes. */
        if (keep < 0 || dup3(keep, 3, O_CLOEXEC) < 0)
            _exit(1);
        close(keep);
    }
    close_range(4, ~0U, 0);
    ready_fd = 3;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    _cleanup_free_ char *logp = xasprintf("%s/monitor.log", cfg->dir);
    int log = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(log >= 0 ? log : null, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (chdir("/") < 0)
        _exit(1);
    log_set_sink(NULL, NULL); /* debug lines go to monitor.log */
    _exit(monitor_main(cfg, ready_fd));
}

int monitor_spawn(const struct monitor_config *cfg, int timeout_ms, int *pid_out, pyro_error *err)
{
    int p[2], pp[2];
    if (pipe2(p, O_CLOEXEC) < 0 || pipe2(pp, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    fflush(NULL);
    pid_t mid = fork();
    if (mid < 0) {
        int e = errno;
        close(p[0]), close(p[1]), close(pp[0]), close(pp[1]);
        return err_errno(err, e, "fork");
    }
    if (mid == 0) {
        close(p[0]);
        close(pp[0]);
        setsid();
        pid_t mon = fork();
        if (mon == 0) {
            close(pp[1]);
            monitor_detach(cfg, p[1]);
        }
        (void)!write(pp[1], &mon, sizeof(mon));
        _exit(mon < 0 ? 1 : 0);
    }
    close(p[1]);
    close(pp[1]);
    pid_t mon = -1;
    (void)!read(pp[0], &mon, sizeof(mon));
    close(pp[0]);
    while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
        ;
    _cleanup_close_ int rfd = p[0];
    if (mon <= 0)
        return err_set(err, -EAGAIN, "could not fork the monitor");

    char buf[PYRO_ERROR_MESSAGE_MAX + 64];
    size_t len = 0;
    int64_t deadline = time_mono_ms() + timeout_ms;
    while (len < sizeof(buf) - 1) {
        int left = (int)(deadline - time_mono_ms());
        if (left <= 0) {
            kill(mon, SIGTERM);
            return err_set(err, -PYRO_E_TIMEOUT, "the sandbox did not start within %d ms", timeout_ms);
        }
        struct pollfd pfd = {.fd = rfd, .events = POLLIN};
        if (poll(&pfd, 1, left) < 0 && errno != EINTR)
            return err_errno(err, errno, "poll");
        ssize_t n = read(rfd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len))
            break;
    }
    buf[len] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    if (!strcmp(buf, "ok")) {
        *pid_out = mon;
        return 0;
    }
    int code = 0, off = 0;
    if (sscanf(buf, "error %d %n", &code, &off) == 1 && code < 0)
        return err_set(err, code, "%s", buf + off);
    return err_set(err, -PYRO_E_STATE, "the monitor died while starting the sandbox (see %s/monitor.log)", cfg->dir);
}
