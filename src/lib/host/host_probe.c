#include "lib/host/host_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/paths.h"
#include "base/probe.h"

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP)

/* Runs fn in a bounded child; its exit status is an errno value. */
static int child_errno(int (*fn)(void *), void *arg)
{
    int status = 0;
    int r = probe_run(fn, arg, HOST_PROBE_TIMEOUT_MS, &status, NULL);
    if (r == -PYRO_E_TIMEOUT)
        return ETIMEDOUT;
    if (r < 0)
        return -r < 256 ? -r : EIO;
    return status;
}

static int errno_or(int fallback)
{
    return errno > 0 && errno < 256 ? errno : fallback;
}

static int userns_child(void *arg)
{
    (void)arg;
    return unshare(CLONE_NEWUSER) < 0 ? errno_or(EPERM) : 0;
}

static int userns_nobody_child(void *arg)
{
    (void)arg;
    if (setgroups(0, NULL) < 0 || setresgid(HOST_PROBE_NOBODY, HOST_PROBE_NOBODY, HOST_PROBE_NOBODY) < 0 ||
        setresuid(HOST_PROBE_NOBODY, HOST_PROBE_NOBODY, HOST_PROBE_NOBODY) < 0)
        return errno_or(EPERM);
    return unshare(CLONE_NEWUSER) < 0 ? errno_or(EPERM) : 0;
}

void host_probe_userns(struct userns_probe *p)
{
    memset(p, 0, sizeof(*p));
    if (probe_read_long("/proc/sys/user/max_user_namespaces", &p->max_user_namespaces) < 0)
        p->max_user_namespaces = -1;
    if (probe_read_long("/proc/sys/kernel/unprivileged_userns_clone", &p->unprivileged_clone) < 0)
        p->unprivileged_clone = -1;
    p->self_errno = child_errno(userns_child, NULL);
    if (geteuid() == 0) {
        p->tried_nobody = true;
        p->nobody_errno = child_errno(userns_nobody_child, NULL);
    }
}

static int namespaces_child(void *arg)
{
    (void)arg;
    int flags = NS_FLAGS | (geteuid() == 0 ? 0 : CLONE_NEWUSER);
    return unshare(flags) < 0 ? errno_or(EPERM) : 0;
}

int host_probe_namespaces(void)
{
    return child_errno(namespaces_child, NULL);
}

bool host_overlay_listed(void)
{
    return probe_file_has_word("/proc/filesystems", "overlay");
}

struct overlay_args {
    char *target;
    char *options;
};

static int overlay_child(void *arg)
{
    struct overlay_args *a = arg;
    int flags = CLONE_NEWNS | (geteuid() == 0 ? 0 : CLONE_NEWUSER);
    if (unshare(flags) < 0)
        return errno_or(EPERM);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return errno_or(EPERM);
    if (mount("overlay", a->target, "overlay", 0, a->options) < 0)
        return errno_or(EPERM);
    return 0;
}

int host_probe_overlay_mount(const char *scratch_parent)
{
    _cleanup_free_ char *tmpl = xasprintf("%s/.doctor-overlay.XXXXXX", scratch_parent);
    if (!mkdtemp(tmpl))
        return errno;
    static const char *const sub[] = {"lower", "upper", "work", "merged"};
    int r = 0;
    for (size_t i = 0; i < ARRAY_SIZE(sub) && r == 0; i++) {
        _cleanup_free_ char *d = xasprintf("%s/%s", tmpl, sub[i]);
        if (mkdir(d, 0700) < 0)
            r = errno;
    }
    if (r == 0) {
        _cleanup_free_ char *target = xasprintf("%s/merged", tmpl);
        _cleanup_free_ char *options = xasprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", tmpl, tmpl,
                                                 tmpl);
        struct overlay_args a = {target, options};
        r = child_errno(overlay_child, &a);
    }
    rm_rf(tmpl, NULL);
    return r;
}

static int seccomp_child(void *arg)
{
    (void)arg;
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {.len = 1, .filter = allow};
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
        return errno_or(EINVAL);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return errno_or(EPERM);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
        return errno_or(EINVAL);
    return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == SECCOMP_MODE_FILTER ? 0 : EINVAL;
}

int host_probe_seccomp(char *actions, size_t size)
{
    if (probe_read_file("/proc/sys/kernel/seccomp/actions_avail", actions, size) < 0 && size)
        actions[0] = '\0';
    return child_errno(seccomp_child, NULL);
}

int host_probe_tun(void)
{
    struct stat st;
    if (stat("/dev/net/tun", &st) < 0)
        return errno;
    if (!S_ISCHR(st.st_mode))
        return ENODEV;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}
