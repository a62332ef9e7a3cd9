/* Stopping and removing VMs. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/vm/internal.h"
#include "base/cleanup.h"
#include "base/id.h"
#include "base/proc.h"

/* SIGKILLs a QEMU left running (its monitor died) and waits for it. */
static void kill_qemu(const struct vm_state *st)
{
    if (st->qemu_pid <= 0 || !proc_alive(st->qemu_pid, st->qemu_start))
        return;
    int pfd = (int)syscall(SYS_pidfd_open, st->qemu_pid, 0);
    if (pfd < 0)
        return;
    /* Checked again through the pidfd: the pid is not reused meanwhile. */
    if (proc_alive(st->qemu_pid, st->qemu_start)) {
        syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        while (poll(&p, 1, 5000) < 0 && errno == EINTR)
            ;
    }
    close(pfd);
}

int vm_destroy(const char *dir, const char *id, pyro_error *err)
{
    if (!id || !id_valid(id) || !dir || dir[0] != '/')
        return err_set(err, -PYRO_E_INVALID, "destroy needs an absolute dir and a valid id");
    struct vm_state st;
    int r = vm_state_load(dir, &st, err);
    if (r < 0 && r != -ENOENT)
        return err_prefix(err, "destroy VM %s", id);
    if (r == 0 && strcmp(st.id, id) != 0) {
        int code = err_set(err, -PYRO_E_INVALID, "%s belongs to VM %s, not %s", dir, st.id, id);
        vm_state_free(&st);
        return code;
    }
    if (r == 0)
        kill_qemu(&st);
    /* Without vm.json, the default parent's cgroup and the veth named
     * after id are still looked for (no guard rule can exist then: they
     * are made after vm.json). */
    if (r != 0) {
        st = (struct vm_state){.id = xstrdup(id), .cgroup_parent = xstrdup("pyro"), .rootless = geteuid() != 0};
    }
    r = vm_jail_remove(&st, err);
    if (r == 0 && st.disk && st.disk_owned && unlink(st.disk) < 0 && errno != ENOENT)
        r = err_errno(err, errno, "remove %s", st.disk);
    vm_state_free(&st);
    if (r < 0)
        return err_prefix(err, "destroy VM %s", id);
    static const char *const files[] = {VM_DISK_NAME,       VM_DISK_NAME ".tmp", "resolv.conf",
                                        USERNET_GUARD_FILE, USERNET_READY_FILE,  "vm.json"};
    return backend_dir_remove(dir, files, ARRAY_SIZE(files), err);
}
