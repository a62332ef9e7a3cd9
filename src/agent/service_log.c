/* A service's stdout or stderr: the agent drains the pipe into
 * <dir>/<stream>.log, rotating it to <stream>.log.1 past
 * SERVICE_LOG_ROTATE, so a chatty service holds at most two files per
 * stream; tails are read back from both. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/service.h"
#include "base/cleanup.h"

int service_log_open(struct service_log *l, const char *dir, const char *stream, int *pipe_w, pyro_error *err)
{
    memset(l, 0, sizeof(*l));
    l->pipe_fd = l->file_fd = -1;
    l->path = xasprintf("%s/%s.log", dir, stream);
    _cleanup_free_ char *old = xasprintf("%s.1", l->path);
    (void)unlink(old);
    l->file_fd = open(l->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (l->file_fd < 0)
        return err_errno(err, errno, "%s", l->path);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    int fl = fcntl(p[0], F_GETFL);
    (void)fcntl(p[0], F_SETFL, fl | O_NONBLOCK);
    l->pipe_fd = p[0];
    *pipe_w = p[1];
    return 0;
}

static void rotate(struct service_log *l)
{
    _cleanup_free_ char *old = xasprintf("%s.1", l->path);
    struct stat st;
    if (stat(old, &st) == 0)
        l->dropped += (uint64_t)st.st_size;
    (void)rename(l->path, old);
    close(l->file_fd);
    l->file_fd = open(l->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    l->size = 0;
}

bool service_log_pump(struct service_log *l)
{
    char buf[65536];
    for (int rounds = 0; rounds < 16 && l->pipe_fd >= 0; rounds++) {
        ssize_t n = read(l->pipe_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0)
            return false;
        if (l->size >= SERVICE_LOG_ROTATE)
            rotate(l);
        /* A full /run loses output, never the service: the pipe is drained. */
        if (l->file_fd >= 0 && write(l->file_fd, buf, (size_t)n) == n)
            l->size += (uint64_t)n;
        else
            l->dropped += (uint64_t)n;
    }
    return true;
}

void service_log_close_pipe(struct service_log *l)
{
    if (l->pipe_fd >= 0)
        close(l->pipe_fd);
    l->pipe_fd = -1;
}

void service_log_free(struct service_log *l)
{
    service_log_close_pipe(l);
    if (l->file_fd >= 0)
        close(l->file_fd);
    l->file_fd = -1;
    free(l->path);
    l->path = NULL;
}

/* Appends up to want bytes from the end of path to *b (reading at most
 * what is left of the budget). Returns the bytes the file held. */
static uint64_t read_end(const char *path, size_t want, char **b, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return 0;
    }
    uint64_t size = (uint64_t)st.st_size;
    size_t take = size < want ? (size_t)size : want;
    *b = xrealloc(*b, *len + take + 1);
    ssize_t n = pread(fd, *b + *len, take, (off_t)(size - take));
    close(fd);
    if (n > 0)
        *len += (size_t)n;
    return size;
}

void service_log_tail(const struct service_log *l, int64_t tail_lines, size_t max, char **buf, size_t *len, bool *cut)
{
    /* The last max bytes of .1 + current, oldest first. */
    _cleanup_free_ char *old = xasprintf("%s.1", l->path);
    struct stat st_cur, st_old;
    uint64_t cur = stat(l->path, &st_cur) == 0 ? (uint64_t)st_cur.st_size : 0;
    uint64_t prev = stat(old, &st_old) == 0 ? (uint64_t)st_old.st_size : 0;
    size_t from_cur = cur < max ? (size_t)cur : max;
    size_t from_old = prev < max - from_cur ? (size_t)prev : max - from_cur;
    char *b = xmalloc(1);
    size_t n = 0;
    if (from_old)
        (void)read_end(old, from_old, &b, &n);
    (void)read_end(l->path, from_cur, &b, &n);
    bool short_read = (uint64_t)n < cur + prev;
    *cut = l->dropped > 0 || short_read;
    if (tail_lines > 0) {
        /* Keep the last tail_lines lines (a final line without '\n' counts). */
        size_t i = n;
        int64_t lines = 0;
        if (i > 0 && b[i - 1] == '\n')
            i--;
        while (i > 0) {
            if (b[i - 1] == '\n' && ++lines == tail_lines)
                break;
            i--;
        }
        /* All of the text's lines are there, unless the byte cap cut it. */
        *cut = i == 0 ? (l->dropped > 0 || short_read) : false;
        memmove(b, b + i, n - i);
        n -= i;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
}
