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

enum ovl_step {
    OVL_DROP = 1,
    OVL_UNSHARE,
    OVL_MAP,
    OVL_PRIVATE,
    OVL_MOUNT,
    OVL_CREATE,
    OVL_WHITEOUT,
};

static const char *const ovl_step_names[] = {
    [OVL_DROP] = "drop to the unprivileged uid",
    [OVL_UNSHARE] = "unshare(CLONE_NEWUSER|CLONE_NEWNS)",
    [OVL_MAP] = "map the user to 0 (uid_map, gid_map)",
    [OVL_PRIVATE] = "make / private",
    [OVL_MOUNT] = "mount overlay with userxattr",
    [OVL_CREATE] = "create a file through the overlay",
    [OVL_WHITEOUT] = "remove a lower file through the overlay",
};

struct ovl_userns_args {
    int as_uid, as_gid;
    int step_fd;
    const char *target, *options, *created, *lower_file;
    char uid_map[32], gid_map[32];
};

static bool write_proc(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t len = (ssize_t)strlen(text);
    bool ok = write(fd, text, (size_t)len) == len;
    int e = errno;
    close(fd);
    errno = e;
    return ok;
}

/* Raw syscalls only: it runs between fork and exit. */
static int ovl_userns_child(void *arg)
{
    struct ovl_userns_args *a = arg;
    unsigned char step = OVL_DROP;
    if (a->as_uid >= 0 && (setgroups(0, NULL) < 0 || setresgid(a->as_gid, a->as_gid, a->as_gid) < 0 ||
                           setresuid(a->as_uid, a->as_uid, a->as_uid) < 0 || prctl(PR_SET_DUMPABLE, 1) < 0))
        goto fail;
    step = OVL_UNSHARE;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
        goto fail;
    step = OVL_MAP;
    if (!write_proc("/proc/self/setgroups", "deny") || !write_proc("/proc/self/uid_map", a->uid_map) ||
        !write_proc("/proc/self/gid_map", a->gid_map))
        goto fail;
    step = OVL_PRIVATE;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        goto fail;
    step = OVL_MOUNT;
    if (mount("overlay", a->target, "overlay", 0, a->options) < 0)
        goto fail;
    step = OVL_CREATE;
    int fd = open(a->created, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    close(fd);
    step = OVL_WHITEOUT;
    if (unlink(a->lower_file) < 0)
        goto fail;
    return 0;
fail:;
    int e = errno_or(EPERM);
    if (write(a->step_fd, &step, 1) < 0)
        e = errno_or(EIO);
    return e;
}

/* The scratch tree of the probe: lower (with a file), upper, work,
 * merged; owned by uid/gid when uid >= 0. */
static int ovl_scratch(const char *top, int uid, int gid)
{
    static const char *const sub[] = {"lower", "upper", "work", "merged", "lower/file"};
    if (uid >= 0 && chown(top, (uid_t)uid, (gid_t)gid) < 0)
        return errno;
    for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", top, sub[i]);
        _cleanup_close_ int fd = -1;
        if (i == ARRAY_SIZE(sub) - 1 ? (fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0
                                     : mkdir(p, 0700) < 0)
            return errno;
        if (uid >= 0 && chown(p, (uid_t)uid, (gid_t)gid) < 0)
            return errno;
    }
    return 0;
}

int host_probe_overlay_userns(const char *scratch_parent, int as_uid, int as_gid, const char **step)
{
    *step = "create the scratch directory";
    _cleanup_free_ char *tmpl = xasprintf("%s/.doctor-overlay-userns.XXXXXX", scratch_parent);
    if (!mkdtemp(tmpl))
        return errno;
    int r = ovl_scratch(tmpl, as_uid, as_gid);
    int pfd[2] = {-1, -1};
    if (r == 0 && pipe2(pfd, O_CLOEXEC) < 0)
        r = errno;
    if (r == 0) {
        _cleanup_free_ char *target = xasprintf("%s/merged", tmpl);
        _cleanup_free_ char *options = xasprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work,userxattr", tmpl,
                                                 tmpl, tmpl);
        _cleanup_free_ char *created = xasprintf("%s/merged/created", tmpl);
        _cleanup_free_ char *lower_file = xasprintf("%s/merged/file", tmpl);
        struct ovl_userns_args a = {.as_uid = as_uid,
                                    .as_gid = as_gid,
                                    .step_fd = pfd[1],
                                    .target = target,
                                    .options = options,
                                    .created = created,
                                    .lower_file = lower_file};
        snprintf(a.uid_map, sizeof(a.uid_map), "0 %u 1", as_uid >= 0 ? (unsigned)as_uid : (unsigned)geteuid());
        snprintf(a.gid_map, sizeof(a.gid_map), "0 %u 1", as_gid >= 0 ? (unsigned)as_gid : (unsigned)getegid());
        r = child_errno(ovl_userns_child, &a);
        close(pfd[1]);
        unsigned char s = 0;
        if (r != 0 && read(pfd[0], &s, 1) == 1 && s < ARRAY_SIZE(ovl_step_names) && ovl_step_names[s])
            *step = ovl_step_names[s];
        else if (r != 0)
            *step = r == ETIMEDOUT ? "the probe child hung" : "the probe child";
        close(pfd[0]);
    }
    /* overlayfs leaves work/work mode 0 (here with a whiteout in it): a
     * user cannot list it to remove it until it is opened again. */
    _cleanup_free_ char *workwork = xasprintf("%s/work/work", tmpl);
    (void)chmod(workwork, 0700);
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
