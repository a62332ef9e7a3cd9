/* QEMU's command line for one VM. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend/vm/internal.h"
#include "base/cleanup.h"

/* The guest's kernel command line. Under TCG the guest's TSC is the host's
 * (QEMU reads the host's TSC), and calibrating it against the emulated
 * PIT fails on a busy host: the kernel then has no clock source and hangs
 * before userspace. So the host's TSC frequency is given (tsc_early_khz)
 * and the TSC trusted. */
#define VM_CMDLINE_COMMON "console=ttyS0 quiet panic=-1 pci=off pyro.vm=1"
#define VM_CMDLINE_TCG " tsc=reliable no_timer_check"

struct argv_buf {
    char **v;
    size_t n, cap;
};

__attribute__((format(printf, 2, 3))) static void add(struct argv_buf *a, const char *fmt, ...)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = xrealloc(a->v, a->cap * sizeof(char *));
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&a->v[a->n], fmt, ap) < 0)
        abort();
    va_end(ap);
    a->v[++a->n] = NULL;
}

long vm_host_tsc_khz(void)
{
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return 0;
    char line[256];
    double mhz = 0;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "cpu MHz", 7) && sscanf(strchr(line, ':') ? strchr(line, ':') + 1 : "", "%lf", &mhz) == 1)
            break;
    fclose(f);
    return mhz > 0 && mhz < 100000 ? (long)(mhz * 1000 + 0.5) : 0;
}

char **vm_qemu_argv(const struct backend_config *cfg, const char *qemu, unsigned flags)
{
    bool kvm = cfg->vm_accel && !strcmp(cfg->vm_accel, "kvm");
    struct argv_buf a = {0};
    add(&a, "%s", qemu);
    add(&a, "-name");
    add(&a, "pyro-%s", cfg->id);
    add(&a, "-M");
    add(&a, "microvm");
    add(&a, "-accel");
    add(&a, "%s", kvm ? "kvm" : "tcg,tb-size=" VM_TCG_TB_MIB_STR); /* internal.h: the memory limit counts it */
    add(&a, "-cpu");
    add(&a, "%s", kvm ? "host" : "max");
    add(&a, "-smp");
    add(&a, "%d", cfg->vcpu_count > 0 ? cfg->vcpu_count : 1);
    add(&a, "-m");
    add(&a, "%d", cfg->mem_mib);
    add(&a, "-nodefaults");
    add(&a, "-no-user-config");
    add(&a, "-display");
    add(&a, "none");
    add(&a, "-no-reboot");
    add(&a, "-sandbox");
    add(&a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    add(&a, "-kernel");
    add(&a, "/proc/self/fd/" VM_KERNEL_FD_STR);
    add(&a, "-initrd");
    add(&a, "/proc/self/fd/" VM_INITRD_FD_STR);
    add(&a, "-append");
    char tsc[48] = "";
    long khz = kvm ? 0 : vm_host_tsc_khz();
    if (khz > 0)
        snprintf(tsc, sizeof(tsc), " tsc_early_khz=%ld", khz);
    /* The same for every VM of a template's settings: the hostname comes
     * with the monitor's hello (a clone must not carry its template's). */
    add(&a, VM_CMDLINE_COMMON "%s%s%s", kvm ? "" : VM_CMDLINE_TCG, tsc, cfg->network ? " pyro.net=1" : "");
    /* The serial console is QEMU's stdout (the monitor's console pipe). */
    add(&a, "-chardev");
    add(&a, "stdio,id=con,signal=off");
    add(&a, "-serial");
    add(&a, "chardev:con");
    /* The agent channel: the monitor's socket end, QEMU's fd 3. */
    add(&a, "-chardev");
    add(&a, "socket,id=agent,fd=3");
    add(&a, "-device");
    add(&a, "virtio-serial-device,max_ports=2");
    add(&a, "-device");
    add(&a, "virtserialport,chardev=agent,id=" VM_PORT_ID ",name=" VM_PORT_NAME);
    add(&a, "-add-fd");
    add(&a, "fd=" VM_ROOT_FD_STR ",set=" VM_ROOT_FD_STR ",opaque=root");
    add(&a, "-drive");
    add(&a, "id=root,file=/dev/fdset/" VM_ROOT_FD_STR ",format=raw,if=none,readonly=on");
    add(&a, "-device");
    add(&a, "virtio-blk-device,drive=root");
    add(&a, "-add-fd");
    add(&a, "fd=" VM_DISK_FD_STR ",set=" VM_DISK_FD_STR ",opaque=rw");
    add(&a, "-add-fd");
    add(&a, "fd=" VM_DISK_RO_FD_STR ",set=" VM_DISK_FD_STR ",opaque=ro");
    add(&a, "-drive");
    add(&a, "id=rw,file=/dev/fdset/" VM_DISK_FD_STR ",file.locking=off,format=raw,if=none,discard=unmap");
    add(&a, "-device");
    add(&a, "virtio-blk-device,drive=rw");
    add(&a, "-device");
    add(&a, "virtio-rng-device");
    if (cfg->network) {
        add(&a, "-netdev");
        /* Inside QEMU's network namespace, behind the guard (confine.c):
         * no host forwarding, smb, tftp or boot file; IPv4 only. */
        add(&a, "user,id=net0,restrict=off,ipv6=off");
        add(&a, "-device");
        add(&a, "virtio-net-device,netdev=net0");
    }
    /* QEMU's monitor (QMP), the monitor's socket end as fd 4: to save a
     * template and to follow a restore. */
    if (flags & VM_ARGV_QMP) {
        add(&a, "-chardev");
        add(&a, "socket,id=qmp,fd=" VM_QMP_FD_STR);
        add(&a, "-mon");
        add(&a, "chardev=qmp,mode=control");
    }
    /* A template's state on fd 5 (template.c). */
    if (flags & VM_ARGV_INCOMING) {
        add(&a, "-incoming");
        add(&a, "fd:" VM_STATE_FD_STR);
    }
    return a.v;
}
