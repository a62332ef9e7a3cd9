/* The individual doctor checks: each probes one capability for real and
 * appends {name, status, detail, hint} to the report. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/idmap.h"
#include "base/json.h"
#include "base/probe.h"
#include "base/spawn_capture.h"
#include "lib/host/cgroup_probe.h"
#include "lib/host/doctor.h"
#include "lib/host/host_probe.h"

void doctor_check_add(struct doctor *d, const char *name, const char *status, const char *hint, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(detail) ? (size_t)n : sizeof(detail) - 1;
    json_t *c = json_object();
    json_set(c, "name", json_string(name));
    json_set(c, "status", json_string(status));
    json_set(c, "detail", json_bytes(detail, len, NULL));
    json_set(c, "hint", json_bytes(hint ? hint : "", hint ? strlen(hint) : 0, NULL));
    json_array_append_new(d->checks, c);
}

void doctor_check_platform(struct doctor *d, json_t *result)
{
    struct utsname u;
    if (uname(&u) < 0) {
        json_set(result, "platform", json_string("unknown"));
        json_set(result, "kernel", json_string("unknown"));
        doctor_check_add(d, "platform", "fail", "", "uname failed");
        doctor_check_add(d, "kernel", "fail", "", "uname failed");
        return;
    }
    char platform[160];
    snprintf(platform, sizeof(platform), "%s-%s", u.sysname, u.machine);
    for (char *p = platform; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    json_set(result, "platform", json_bytes(platform, strlen(platform), NULL));
    json_set(result, "kernel", json_bytes(u.release, strlen(u.release), NULL));
    if (!strcmp(platform, "linux-x86_64"))
        doctor_check_add(d, "platform", "pass", "", "%s", platform);
    else
        doctor_check_add(d, "platform", "fail", "pyro supports Linux on x86_64 only", "%s", platform);

    int major = 0, minor = 0;
    if (sscanf(u.release, "%d.%d", &major, &minor) == 2 && (major > 5 || (major == 5 && minor >= 11)))
        doctor_check_add(d, "kernel", "pass", "", "Linux %s", u.release);
    else
        doctor_check_add(d, "kernel", "warn", "use Linux 5.11 or newer (overlayfs inside user namespaces)",
                         "Linux %s is older than 5.11", u.release);
}

static void check_kvm_device(struct doctor *d)
{
    const struct kvm_probe *k = &d->kvm;
    if (kvm_probe_usable(k)) {
        doctor_check_add(d, "kvm", "pass", "", "/dev/kvm read-write, API version %d, KVM_CREATE_VM works",
                         k->api_version);
    } else if (!k->device) {
        doctor_check_add(d, "kvm", "warn", "enable virtualization and load kvm_intel or kvm_amd; VMs use TCG meanwhile",
                         "/dev/kvm does not exist");
    } else if (k->open_errno) {
        doctor_check_add(d, "kvm", "warn", "add the user to the kvm group, or run as root",
                         "cannot open /dev/kvm read-write: %s", strerror(k->open_errno));
    } else if (k->api_version != 12) {
        doctor_check_add(d, "kvm", "warn", "", "/dev/kvm reports API version %d, not 12", k->api_version);
    } else {
        doctor_check_add(d, "kvm", "warn", "check dmesg for KVM errors", "KVM_CREATE_VM failed: %s",
                         strerror(k->create_vm_errno));
    }
}

static void check_kvm_native(struct doctor *d)
{
    const struct kvm_probe *k = &d->kvm;
    if (!kvm_probe_usable(k)) {
        doctor_check_add(d, "kvm_native", "warn", "", "not measured: /dev/kvm is unusable");
        return;
    }
    char timing[160];
    if (k->guest_halted)
        snprintf(timing, sizeof(timing), "test guest: %.1f ns per loop iteration (native is under %d)",
                 (double)k->guest_ns / (double)k->iterations, KVM_PROBE_MAX_NS_PER_ITER);
    else
        snprintf(timing, sizeof(timing), "test guest: %s", k->guest_error);
    bool native = kvm_probe_native(k) && !k->pvm_module && k->cpu_virt;
    if (native) {
        doctor_check_add(d, "kvm_native", "pass", "", "vmx/svm present; %s", timing);
        return;
    }
    doctor_check_add(d, "kvm_native", "warn",
                     "guests would crawl under this KVM; VMs use TCG (set PYRO_VM_ACCEL=kvm to force KVM)", "%s%s%s",
                     k->pvm_module ? "kvm_pvm module loaded (paravirtual nested host); " : "",
                     k->cpu_virt ? "" : "no vmx/svm in /proc/cpuinfo; ", timing);
}

static void check_accel(struct doctor *d)
{
    pyro_error err = {0};
    d->accel_ok = accel_decide(&d->kvm, &d->accel, &err) == 0;
    if (!d->accel_ok) {
        snprintf(d->accel_error, sizeof(d->accel_error), "%s", err.message);
        doctor_check_add(d, "vm_accelerator", "fail", "set PYRO_VM_ACCEL to kvm, tcg or auto (or unset it)", "%s",
                         err.message);
    } else if (!strcmp(d->accel.name, "kvm") || d->accel.forced) {
        doctor_check_add(d, "vm_accelerator", "pass", "", "%s: %s", d->accel.name, d->accel.reason);
    } else {
        doctor_check_add(d, "vm_accelerator", "warn",
                         "for KVM speed, run on a host with hardware virtualization (vmx/svm)", "%s: %s", d->accel.name,
                         d->accel.reason);
    }
}

void doctor_check_kvm(struct doctor *d)
{
    kvm_probe_run(&d->kvm, true);
    check_kvm_device(d);
    check_kvm_native(d);
    check_accel(d);
}

void doctor_check_qemu(struct doctor *d)
{
    pyro_error err = {0};
    d->qemu_ok = qemu_probe(&d->qemu, &err) == 0;
    if (!d->qemu_ok) {
        doctor_check_add(d, "qemu", "fail", "apt-get install qemu-system-x86", "%s", err.message);
        doctor_check_add(d, "qemu_microvm", "fail", "fix the qemu check first", "not checked: QEMU is unusable");
        return;
    }
    doctor_check_add(d, "qemu", "pass", "", "%s (%s)", d->qemu.path,
                     d->qemu.version[0] ? d->qemu.version : d->qemu.version_line);
    if (d->qemu.microvm)
        doctor_check_add(d, "qemu_microvm", "pass", "", "machine type microvm available; accelerators:%s%s",
                         d->qemu.accel_kvm ? " kvm" : "", d->qemu.accel_tcg ? " tcg" : "");
    else
        doctor_check_add(d, "qemu_microvm", "fail", "install a QEMU build with the microvm machine (Debian's has it)",
                         "%s -machine help does not list microvm", d->qemu.path);
}

void doctor_check_userns(struct doctor *d)
{
    struct userns_probe u;
    host_probe_userns(&u);
    d->userns_ok = u.self_errno == 0;
    d->userns_unpriv_ok = u.tried_nobody ? u.nobody_errno == 0 : d->userns_ok;
    char sysctl[96];
    int n = snprintf(sysctl, sizeof(sysctl), "max_user_namespaces=%ld", u.max_user_namespaces);
    if (u.unprivileged_clone >= 0)
        snprintf(sysctl + n, sizeof(sysctl) - (size_t)n, ", unprivileged_userns_clone=%ld", u.unprivileged_clone);
    char who[160];
    if (u.tried_nobody)
        snprintf(who, sizeof(who), "as root: %s; as uid %d: %s", u.self_errno ? strerror(u.self_errno) : "works",
                 HOST_PROBE_NOBODY, u.nobody_errno ? strerror(u.nobody_errno) : "works");
    else
        snprintf(who, sizeof(who), "as uid %d: %s", (int)geteuid(), u.self_errno ? strerror(u.self_errno) : "works");
    const char *hint = "sysctl -w user.max_user_namespaces=15000 (and kernel.unprivileged_userns_clone=1 "
                       "where it exists)";
    if (d->userns_ok && (!u.tried_nobody || u.nobody_errno == 0))
        doctor_check_add(d, "user_namespaces", "pass", "", "unshare(CLONE_NEWUSER) %s; %s", who, sysctl);
    else if (d->root)
        doctor_check_add(d, "user_namespaces", "warn", hint, "unshare(CLONE_NEWUSER) %s; %s (root does not need them)",
                         who, sysctl);
    else
        doctor_check_add(d, "user_namespaces", "fail", hint, "unshare(CLONE_NEWUSER) %s; %s", who, sysctl);
}

void doctor_check_namespaces(struct doctor *d)
{
    int e = host_probe_namespaces();
    d->ns_ok = e == 0;
    if (d->ns_ok)
        doctor_check_add(d, "namespaces", "pass", "", "mount, pid, ipc, uts, net and cgroup namespaces work%s",
                         d->root ? "" : " (inside a user namespace)");
    else
        doctor_check_add(d, "namespaces", "fail",
                         !d->root && !d->userns_ok
                             ? "make user namespaces work first (see user_namespaces)"
                             : "needs a kernel with namespaces; in a container, run it privileged",
                         "unshare(mount|pid|ipc|uts|net|cgroup)%s: %s", d->root ? "" : " in a user namespace",
                         strerror(e));
}

const char *doctor_scratch_tmp(void)
{
    const char *tmp = getenv("TMPDIR");
    struct stat st;
    if (tmp && tmp[0] == '/' && stat(tmp, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & S_IXOTH))
        return tmp;
    return "/tmp";
}

const char *doctor_overlay_hint(const struct doctor *d, int e, const char *step)
{
    if (!host_overlay_listed())
        return "modprobe overlay";
    if (!d->userns_unpriv_ok || (!d->root && !d->userns_ok))
        return "make user namespaces work first (see user_namespaces)";
    if (strstr(step, "mount overlay"))
        return e == EINVAL || e == ENODEV
                   ? "use Linux 5.11 or newer (overlayfs in user namespaces, the userxattr option)"
                   : "put the state dir (PYRO_HOME) on a filesystem with user xattrs (ext4, xfs, btrfs)";
    return "put the state dir (PYRO_HOME) on a local filesystem the user owns (ext4, xfs, btrfs)";
}

/* As sandboxes mount it: in a user namespace, with userxattr. As root,
 * also by a child whose uid is the id pool's first (the owner of a
 * sandbox's user namespace), in a scratch directory it owns below TMPDIR. */
void doctor_check_overlayfs(struct doctor *d, const char *scratch_parent)
{
    d->overlay_step = "";
    d->overlay_errno = host_probe_overlay_userns(scratch_parent, -1, -1, &d->overlay_step);
    char self[256];
    if (d->overlay_errno)
        snprintf(self, sizeof(self), "in %s as uid %u: %s: %s", scratch_parent, (unsigned)geteuid(), d->overlay_step,
                 strerror(d->overlay_errno));
    else
        snprintf(self, sizeof(self), "in %s as uid %u: works", scratch_parent, (unsigned)geteuid());
    char pool[PYRO_ERROR_MESSAGE_MAX + 64] = "";
    int pe = 0;
    const char *pstep = "";
    if (d->root) {
        struct idmap m;
        pyro_error err = {0};
        const char *tmp = doctor_scratch_tmp();
        if (idmap_resolve(&m, &err) < 0) {
            pe = EINVAL;
            pstep = "";
            snprintf(pool, sizeof(pool), "; as the id pool: %s", err.message);
        } else if ((pe = host_probe_overlay_userns(tmp, (int)m.uid_base, (int)m.gid_base, &pstep)))
            snprintf(pool, sizeof(pool), "; in %s as uid %u (the id pool): %s: %s", tmp, (unsigned)m.uid_base, pstep,
                     strerror(pe));
        else
            snprintf(pool, sizeof(pool), "; in %s as uid %u (the id pool): works", tmp, (unsigned)m.uid_base);
    }
    d->overlay_ok = d->overlay_errno == 0 && pe == 0;
    if (d->overlay_ok) {
        doctor_check_add(d, "overlayfs", "pass", "", "overlay with userxattr in a user namespace, %s%s", self, pool);
        return;
    }
    const char *hint = d->overlay_errno ? doctor_overlay_hint(d, d->overlay_errno, d->overlay_step)
                       : pstep[0]       ? doctor_overlay_hint(d, pe, pstep)
                                        : "unset PYRO_IDMAP_BASE or give it a valid number";
    doctor_check_add(d, "overlayfs", "fail", hint, "overlay with userxattr in a user namespace, %s%s", self, pool);
}

json_t *doctor_check_cgroups(struct doctor *d)
{
    cgroup_probe_run(&d->cgroup);
    const struct cgroup_probe *p = &d->cgroup;
    json_t *ctls = json_object();
    char detail[256];
    int n = snprintf(detail, sizeof(detail), "%s:", cgroup_layout_name(p->layout));
    bool all = true;
    for (int i = 0; i < CGROUP_CTL_COUNT; i++) {
        const struct cgroup_controller *c = &p->ctl[i];
        bool usable = cgroup_controller_usable(c);
        all = all && usable;
        json_t *h = c->version ? json_string(c->version == 1 ? "v1" : "v2") : json_null();
        json_set(ctls, c->name, json_pack("{s:o, s:b}", "hierarchy", h, "usable", usable));
        if (n >= 0 && (size_t)n < sizeof(detail))
            n += snprintf(detail + n, sizeof(detail) - (size_t)n, " %s=%s%s", c->name,
                          c->version ? (c->version == 1 ? "v1" : "v2") : "none",
                          c->version && !c->writable ? " (read-only)" : "");
    }
    if (all)
        doctor_check_add(d, "cgroups", "pass", "", "%s", detail);
    else
        doctor_check_add(d, "cgroups", "warn",
                         d->root
                             ? "sandbox memory, pids and cpu limits need these controllers writable"
                             : "as a user, sandboxes use a delegated cgroup v2 subtree instead: see cgroup_delegation",
                         "%s", detail);
    return json_pack("{s:s, s:o}", "version", cgroup_layout_name(p->layout), "controllers", ctls);
}

void doctor_check_seccomp(struct doctor *d)
{
    char actions[256];
    int e = host_probe_seccomp(actions, sizeof(actions));
    d->seccomp_ok = e == 0;
    int count = 0;
    char *save = NULL;
    for (char *p = strtok_r(actions, " ", &save); p; p = strtok_r(NULL, " ", &save))
        count++;
    if (d->seccomp_ok)
        doctor_check_add(d, "seccomp", "pass", "", "filter mode works (%d actions available)", count);
    else
        doctor_check_add(d, "seccomp", "fail", "needs a kernel with CONFIG_SECCOMP_FILTER",
                         "installing a seccomp filter failed: %s", strerror(e));
}

void doctor_check_network(struct doctor *d)
{
    int e = host_probe_tun();
    if (e == 0)
        doctor_check_add(d, "tun", "pass", "", "/dev/net/tun opens read-write");
    else
        doctor_check_add(d, "tun", "warn", "modprobe tun (user-mode and TAP networking need it)", "/dev/net/tun: %s",
                         strerror(e));
    long fwd = -1;
    if (probe_read_long("/proc/sys/net/ipv4/ip_forward", &fwd) < 0)
        doctor_check_add(d, "ip_forward", "warn", "", "cannot read /proc/sys/net/ipv4/ip_forward");
    else if (fwd == 1)
        doctor_check_add(d, "ip_forward", "pass", "", "net.ipv4.ip_forward=1");
    else
        doctor_check_add(d, "ip_forward", "warn", "sysctl -w net.ipv4.ip_forward=1 (sandbox egress as root uses NAT)",
                         "net.ipv4.ip_forward=%ld", fwd);
}

void doctor_check_disk_quota(struct doctor *d)
{
    /* disk_mib (docs/workspaces.md "Disk quota"): images made by mkfs.ext4,
     * loop-mounted by a sandbox as root, read by the disk tools with
     * debugfs and checked by e2fsck. */
    static const char *const tools[] = {"mkfs.ext4", "debugfs", "e2fsck"};
    char missing[64] = "";
    for (size_t i = 0; i < sizeof(tools) / sizeof(*tools); i++) {
        _cleanup_free_ char *p = NULL;
        if (proc_find_program(tools[i], &p, NULL) < 0)
            snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s", *missing ? ", " : "",
                     tools[i]);
    }
    if (*missing)
        doctor_check_add(d, "disk_quota", "fail", "apt-get install e2fsprogs",
                         "%s not found: workspaces (whose disk is an ext4 image) and the disk tools cannot run",
                         missing);
    else if (!d->root)
        doctor_check_add(d, "disk_quota", "warn", "run as root, or use the vm backend (its disk is the image)",
                         "as an ordinary user a sandbox cannot loop-mount its disk image: disk_mib is not enforced "
                         "(results say disk_quota: unenforced), and the disk tools have no image to read");
    else if (access("/dev/loop-control", R_OK | W_OK) < 0)
        doctor_check_add(d, "disk_quota", "fail", "modprobe loop",
                         "/dev/loop-control: %s: sandboxes with a disk quota (every workspace) cannot start",
                         strerror(errno));
    else
        doctor_check_add(d, "disk_quota", "pass", "",
                         "sandbox disks are loop-mounted ext4 images (disk_mib enforced); disk tools via debugfs");
}
