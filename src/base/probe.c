#include "base/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/spawn_capture.h"
#include "base/timeutil.h"

int probe_run(int (*fn)(void *arg), void *arg, int timeout_ms, int *status, pyro_error *err)
{
    pid_t pid = fork();
    if (pid < 0)
        return err_errno(err, errno, "fork");
    if (pid == 0)
        _exit(fn(arg) & 0xff);

    int r = proc_reap_by(pid, time_mono_ms() + timeout_ms, status);
    if (r == -PYRO_E_TIMEOUT)
        return err_set(err, r, "probe did not finish within %d ms", timeout_ms);
    return r < 0 ? err_errno(err, -r, "waitpid") : 0;
}

int probe_read_file(const char *path, char *buf, size_t size)
{
    if (size == 0)
        return -EINVAL;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    return (int)len;
}

int probe_read_long(const char *path, long *out)
{
    char buf[64];
    int r = probe_read_file(path, buf, sizeof(buf));
    if (r < 0)
        return r;
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (end == buf || *end || errno)
        return -EINVAL;
    *out = v;
    return 0;
}

bool probe_file_has_word(const char *path, const char *word)
{
    _cleanup_free_ char *buf = xmalloc(64 * 1024);
    if (probe_read_file(path, buf, 64 * 1024) < 0)
        return false;
    size_t wl = strlen(word);
    for (char *p = buf; (p = strstr(p, word)); p += wl) {
        bool start = p == buf || strchr(" \t\n", p[-1]);
        bool end = p[wl] == '\0' || strchr(" \t\n", p[wl]);
        if (start && end)
            return true;
    }
    return false;
}
