#include "base/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/timeutil.h"

int dirlock_at(int dirfd, int mode, int timeout_ms, pyro_error *err)
{
    _cleanup_close_ int fd = openat(dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return err_errno(err, errno, "open lock file");
    int op = mode == PYRO_LOCK_SHARED ? LOCK_SH : LOCK_EX;
    if (timeout_ms < 0) {
        while (flock(fd, op) < 0)
            if (errno != EINTR)
                return err_errno(err, errno, "lock");
        return TAKE_FD(fd);
    }
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        if (flock(fd, op | LOCK_NB) == 0)
            return TAKE_FD(fd);
        if (errno != EWOULDBLOCK && errno != EINTR)
            return err_errno(err, errno, "lock");
        if (time_mono_ms() >= deadline)
            return err_set(err, -PYRO_E_BUSY, "lock is held by another pyro process (waited %d ms)", timeout_ms);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int dirlock(const char *dir, int mode, int timeout_ms, pyro_error *err)
{
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_errno(err, errno, "open %s", dir);
    int r = dirlock_at(dfd, mode, timeout_ms, err);
    if (r < 0)
        return err_prefix(err, "%s", dir);
    return r;
}
