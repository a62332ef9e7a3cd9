/* What both backends do the same with an instance: signal its PID 1 (a
 * sandbox's init, a VM's QEMU) through its pidfd, close the caller's
 * handles, and remove its files and directory at destroy. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/backend.h"
#include "base/cleanup.h"

int backend_instance_kill(const struct backend_instance *inst, int sig, pyro_error *err)
{
    if (inst->pidfd < 0)
        return err_set(err, -EBADF, "the instance has no pidfd");
    if (syscall(SYS_pidfd_send_signal, inst->pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
        return err_errno(err, errno, "signal the instance's PID 1 (pid %d)", (int)inst->pid);
    return 0;
}

void backend_instance_release(struct backend_instance *inst)
{
    if (inst->pidfd >= 0)
        close(inst->pidfd);
    inst->pidfd = -1;
    if (inst->userns_fd >= 0)
        close(inst->userns_fd);
    inst->userns_fd = -1;
}

int backend_dir_remove(const char *dir, const char *const *files, size_t n, pyro_error *err)
{
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, files[i]);
        if (unlink(p) < 0 && errno != ENOENT)
            return err_errno(err, errno, "remove %s", p);
    }
    /* Something else in dir (the caller's kept layer) leaves it. */
    if (rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
        return err_errno(err, errno, "remove %s", dir);
    return 0;
}
