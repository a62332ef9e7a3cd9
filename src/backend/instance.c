/* What both backends do the same with a started instance: signal its
 * PID 1 (a sandbox's init, a VM's QEMU) through its pidfd, and close the
 * caller's handles. */
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/backend.h"

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
