/* The instance's console: init's stdout and stderr are the write end of a
 * pipe whose read end the monitor drains into <dir>/console.log, bounded.
 * The guest never holds the file, so it cannot truncate, seek, chmod or
 * chown it, make it setuid or fill the host's disk through it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/monitor_impl.h"
#include "base/cleanup.h"
#include "base/log.h"

int monitor_console_open(struct monitor *m, int *write_end, pyro_error *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    _cleanup_close_ int rd = p[0], wr = p[1];
    if (fcntl(rd, F_SETFL, O_NONBLOCK) < 0)
        return err_errno(err, errno, "fcntl");
    /* A fresh log per start, never through a link, always a 0600 regular
     * file whatever an older pyro left there. */
    _cleanup_free_ char *path = xasprintf("%s/console.log", m->cfg->dir);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
                                  0600);
    if (fd < 0)
        return err_errno(err, errno, "open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return err_errno(err, errno, "stat %s", path);
    if (!S_ISREG(st.st_mode))
        return err_set(err, -PYRO_E_INVALID, "%s is not a regular file", path);
    if (fchmod(fd, 0600) < 0 || ftruncate(fd, 0) < 0)
        return err_errno(err, errno, "reset %s", path);
    m->console_rd = TAKE_FD(rd);
    m->console_fd = TAKE_FD(fd);
    m->console_size = 0;
    m->console_dropped = 0;
    *write_end = TAKE_FD(wr);
    return 0;
}

/* Appends what fits under MONITOR_CONSOLE_MAX; the first overflow leaves a
 * note, the rest is counted and dropped. */
static void console_append(struct monitor *m, const char *buf, size_t n)
{
    size_t room = MONITOR_CONSOLE_MAX - m->console_size;
    size_t keep = n < room ? n : room;
    if (keep && m->console_fd >= 0) {
        ssize_t w = write(m->console_fd, buf, keep);
        if (w < 0)
            log_debug("monitor: console.log: %s", strerror(errno));
        else
            m->console_size += (size_t)w;
    }
    if (keep < n) {
        if (m->console_dropped == 0 && m->console_fd >= 0) {
            char note[128];
            int len = snprintf(note, sizeof(note), "\n[pyro-monitor: console output past %u bytes is dropped]\n",
                               MONITOR_CONSOLE_MAX);
            (void)!write(m->console_fd, note, (size_t)len);
        }
        m->console_dropped += n - keep;
    }
}

void monitor_console_drain(struct monitor *m)
{
    char buf[16384];
    /* A bounded number of rounds, so a chatty guest does not starve the
     * loop; the pipe stays readable and the loop comes back. */
    for (int rounds = 0; rounds < 16 && m->console_rd >= 0; rounds++) {
        ssize_t n = read(m->console_rd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            /* EOF: every holder of the write end is gone. */
            if (m->loop)
                ae_file_del(m->loop, m->console_rd, AE_READABLE);
            close(m->console_rd);
            m->console_rd = -1;
            return;
        }
        console_append(m, buf, (size_t)n);
    }
}

void monitor_console_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    monitor_console_drain(data);
}

void monitor_console_close(struct monitor *m)
{
    monitor_console_drain(m);
    if (m->console_rd >= 0) {
        if (m->loop)
            ae_file_del(m->loop, m->console_rd, AE_READABLE);
        close(m->console_rd);
        m->console_rd = -1;
    }
    if (m->console_dropped && m->console_fd >= 0) {
        char note[128];
        int len = snprintf(note, sizeof(note), "[pyro-monitor: %llu bytes of console output dropped]\n",
                           (unsigned long long)m->console_dropped);
        (void)!write(m->console_fd, note, (size_t)len);
    }
    if (m->console_fd >= 0)
        close(m->console_fd);
    m->console_fd = -1;
}

void monitor_console_tail(struct monitor *m, char *buf, size_t size)
{
    buf[0] = '\0';
    _cleanup_free_ char *path = xasprintf("%s/console.log", m->cfg->dir);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || size < 2)
        return;
    char raw[MONITOR_CONSOLE_TAIL];
    off_t from = st.st_size > (off_t)sizeof(raw) ? st.st_size - (off_t)sizeof(raw) : 0;
    ssize_t n = pread(fd, raw, sizeof(raw), from);
    if (n <= 0)
        return;
    /* The last three non-empty lines, joined with " | ", printable ASCII
     * only (the guest wrote them: never trusted as text). */
    size_t start = (size_t)n;
    int lines = 0;
    for (size_t i = (size_t)n; i > 0 && lines < 3; i--) {
        if (raw[i - 1] != '\n')
            continue;
        /* raw[i .. next newline) is a line: count it when it shows anything. */
        bool shown = false;
        for (size_t j = i; j < (size_t)n && raw[j] != '\n'; j++)
            shown |= raw[j] > 0x20 && raw[j] < 0x7f;
        if (shown)
            lines++;
        start = i;
    }
    if (lines < 3)
        start = 0;
    size_t o = 0;
    bool sep = false;
    for (size_t i = start; i < (size_t)n && o + 4 < size; i++) {
        unsigned char ch = (unsigned char)raw[i];
        if (ch == '\n') {
            sep = o > 0;
        } else if (ch > 0x20 && ch < 0x7f) {
            if (sep)
                o += (size_t)snprintf(buf + o, size - o, " | ");
            sep = false;
            if (o + 1 < size)
                buf[o++] = (char)ch;
        } else if (ch == ' ' && o && !sep && o + 1 < size) {
            buf[o++] = ' ';
        }
    }
    buf[o < size ? o : size - 1] = '\0';
}
