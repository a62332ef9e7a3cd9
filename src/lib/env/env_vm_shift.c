/* mkfs.ext4 -d of a tree whose ids are shifted into a host id range (the
 * sandbox backend keeps an environment's tree owned by the range its
 * sandboxes map to root): mkfs runs in a user namespace that maps the
 * range back onto 0..ENV_VM_SHIFT_SPAN-1, so the image it writes holds the
 * ids the guest expects (root is 0), whatever the host's view. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/idmap.h"
#include "base/spawn_capture.h"
#include "base/timeutil.h"
#include "lib/env/env_vm.h"

/* As root: the range onto 0..ENV_VM_SHIFT_SPAN-1. As a user the range must
 * be the user's own subordinate one (the tree was built in it), written by
 * newuidmap/newgidmap in the host view (base/idmap.h: the user is id
 * 65536 there, so the image the user owns stays writable to mkfs). */
static int write_maps(pid_t pid, uid_t uid, gid_t gid, pyro_error *err);

static int write_map(pid_t pid, const char *file, unsigned long base, pyro_error *err)
{
    _cleanup_free_ char *path = xasprintf("/proc/%d/%s", (int)pid, file);
    _cleanup_free_ char *line = xasprintf("0 %lu %u\n", base, ENV_VM_SHIFT_SPAN);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, line, strlen(line)) != (ssize_t)strlen(line))
        return err_errno(err, errno, "write %s", path);
    return 0;
}

static int write_maps(pid_t pid, uid_t uid, gid_t gid, pyro_error *err)
{
    if (geteuid() == 0) {
        int r = write_map(pid, "uid_map", uid, err);
        return r < 0 ? r : write_map(pid, "gid_map", gid, err);
    }
    struct idmap m;
    int r = idmap_resolve(&m, err);
    if (r < 0)
        return r;
    if (m.uid_base != uid || m.gid_base != gid || m.count < ENV_VM_SHIFT_SPAN)
        return err_set(err, -PYRO_E_STATE,
                       "the tree belongs to ids %lu:%lu, not to this user's subordinate range %lu:%lu: pull the "
                       "environment again as this user",
                       (unsigned long)uid, (unsigned long)gid, (unsigned long)m.uid_base, (unsigned long)m.gid_base);
    return idmap_write(&m, pid, true, err);
}

int env_vm_run_shifted(char *const argv[], const int *keep, size_t nkeep, uid_t uid, gid_t gid, int timeout_ms,
                       pyro_error *err)
{
    int go[2], ready[2];
    if (pipe2(go, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    if (pipe2(ready, O_CLOEXEC) < 0) {
        close(go[0]), close(go[1]);
        return err_errno(err, errno, "pipe");
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(go[0]), close(go[1]), close(ready[0]), close(ready[1]);
        return err_errno(err, e, "fork");
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setpgid(0, 0);
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
            _exit(126);
        char c = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'x';
        if (write(ready[1], &c, 1) != 1 || c != 'u' || read(go[0], &c, 1) != 1 || c != 'g')
            _exit(126);
        if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
            _exit(126);
        for (size_t i = 0; i < nkeep; i++)
            if (fcntl(keep[i], F_SETFD, 0) < 0)
                _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    close(go[0]);
    close(ready[1]);
    _cleanup_close_ int gofd = go[1], readyfd = ready[0];
    char c = 0;
    int r = read(readyfd, &c, 1) == 1 && c == 'u' ? 0
                                                  : err_set(err, -PYRO_E_UNSUPPORTED, "unshare(CLONE_NEWUSER) failed");
    if (r == 0)
        r = write_maps(pid, uid, gid, err);
    if (r == 0 && write(gofd, "g", 1) != 1)
        r = err_errno(err, errno, "start %s", argv[0]);
    if (r < 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return r;
    }
    int status = 0;
    r = proc_reap_by(pid, time_mono_ms() + timeout_ms, &status);
    if (r < 0)
        return err_set(err, r, "%s did not finish within %d s", argv[0], timeout_ms / 1000);
    if (status != 0)
        return err_set(err, -PYRO_E_STATE, "%s failed (exit status %d) in the user namespace of ids %lu..", argv[0],
                       status, (unsigned long)uid);
    return 0;
}
