/* A shell's PTY, process and output ring. The agent holds the master; the
 * shell is a session leader whose controlling terminal is the slave, so
 * job control, ^C and SIGHUP on hang-up behave as in a terminal. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/shell.h"
#include "base/cleanup.h"
#include "base/proc.h"

static void __attribute__((noreturn)) child_shell(const char *slave, const char *cwd, char **envp)
{
    proc_signals_default();
    (void)setsid();
    int s = open(slave, O_RDWR);
    if (s < 0)
        _exit(126);
    (void)ioctl(s, TIOCSCTTY, 0);
    childio_setup(cwd, s, s, s);
    environ = envp;
    if (access("/bin/bash", X_OK) == 0)
        execv("/bin/bash", (char *[]){"bash", "-i", NULL});
    execv("/bin/sh", (char *[]){"sh", "-i", NULL});
    dprintf(2, "pyro-agent: exec /bin/sh: %s\n", strerror(errno));
    _exit(127);
}

int shell_pty_spawn(struct shell *sh, char **envp, pyro_error *err)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return err_errno(err, errno, "posix_openpt (is devpts mounted on /dev/pts?)");
    char slave[64];
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, slave, sizeof(slave)) != 0) {
        int e = errno;
        close(m);
        return err_errno(err, e, "set up the PTY");
    }
    struct winsize ws = {.ws_row = (unsigned short)sh->rows, .ws_col = (unsigned short)sh->cols};
    (void)ioctl(m, TIOCSWINSZ, &ws);
    pid_t pid = fork();
    if (pid == 0)
        child_shell(slave, sh->cwd, envp);
    if (pid < 0) {
        int e = errno;
        close(m);
        return err_errno(err, e, "fork");
    }
    int fl = fcntl(m, F_GETFL);
    (void)fcntl(m, F_SETFL, fl | O_NONBLOCK);
    sh->master = m;
    sh->pid = pid;
    return 0;
}

void shell_ring_put(struct shell_ring *r, const uint8_t *data, size_t len)
{
    if (len > SHELL_RING) {
        /* Only the last SHELL_RING bytes can be kept. */
        r->end += len - SHELL_RING;
        data += len - SHELL_RING;
        len = SHELL_RING;
    }
    while (len) {
        size_t at = (size_t)(r->end % SHELL_RING);
        size_t n = SHELL_RING - at < len ? SHELL_RING - at : len;
        memcpy(r->buf + at, data, n);
        r->end += n;
        data += n;
        len -= n;
    }
    if (r->end - r->start > SHELL_RING)
        r->start = r->end - SHELL_RING;
}

static uint8_t ring_at(const struct shell_ring *r, uint64_t o)
{
    return r->buf[o % SHELL_RING];
}

void shell_ring_get(const struct shell_ring *r, uint64_t *cursor, size_t max, uint8_t **out, size_t *len,
                    bool *truncated)
{
    uint64_t from = *cursor;
    *truncated = from < r->start;
    if (*truncated)
        from = r->start;
    if (from > r->end)
        from = r->end;
    size_t n = r->end - from < max ? (size_t)(r->end - from) : max;
    /* Cut before a UTF-8 sequence that the limit would split. */
    if (from + n < r->end && n > 4) {
        size_t k = n;
        while (k > n - 4 && (ring_at(r, from + k) & 0xC0) == 0x80)
            k--;
        if ((ring_at(r, from + k) & 0xC0) != 0x80)
            n = k;
    }
    uint8_t *b = xmalloc(n + 1);
    for (size_t i = 0; i < n;) {
        size_t at = (size_t)((from + i) % SHELL_RING);
        size_t c = SHELL_RING - at < n - i ? SHELL_RING - at : n - i;
        memcpy(b + i, r->buf + at, c);
        i += c;
    }
    *cursor = from;
    *out = b;
    *len = n;
}

int shell_pty_flush_input(struct shell *sh)
{
    while (sh->in_len && sh->master >= 0) {
        ssize_t n = write(sh->master, sh->in, sh->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        memmove(sh->in, sh->in + n, sh->in_len - (size_t)n);
        sh->in_len -= (size_t)n;
    }
    return 0;
}

pid_t shell_pty_foreground(const struct shell *sh)
{
    pid_t pg = sh->master >= 0 ? tcgetpgrp(sh->master) : -1;
    return pg > 0 ? pg : sh->pid;
}

void shell_pty_kill_session(const struct shell *sh)
{
    (void)kill(-sh->pid, SIGKILL);
    pid_t fg = shell_pty_foreground(sh);
    if (fg > 0)
        (void)kill(-fg, SIGKILL);
    /* Background jobs of other process groups of the session. */
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long p = strtol(de->d_name, &end, 10);
        if (*end || p <= 1 || p == getpid())
            continue;
        if (getsid((pid_t)p) == sh->pid)
            (void)kill((pid_t)p, SIGKILL);
    }
    closedir(d);
}
