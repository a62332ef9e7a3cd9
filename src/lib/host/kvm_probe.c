#include "lib/host/kvm_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/probe.h"

#define GUEST_MEM_SIZE 0x10000
#define GUEST_CODE_ADDR 0x1000

/* Written by the probe child into a shared page. */
struct guest_report {
    int stage;       /* how far the child got, for the error text */
    int err;         /* errno of the failing step */
    int exit_reason; /* KVM_EXIT_* after KVM_RUN */
    int64_t ns;
};

enum { STAGE_OPEN = 1, STAGE_VM, STAGE_MEM, STAGE_VCPU, STAGE_MMAP, STAGE_SREGS, STAGE_REGS, STAGE_RUN, STAGE_DONE };

static const char *const stage_names[] = {
    [STAGE_OPEN] = "open /dev/kvm",   [STAGE_VM] = "KVM_CREATE_VM",  [STAGE_MEM] = "KVM_SET_USER_MEMORY_REGION",
    [STAGE_VCPU] = "KVM_CREATE_VCPU", [STAGE_MMAP] = "mmap kvm_run", [STAGE_SREGS] = "KVM_SET_SREGS",
    [STAGE_REGS] = "KVM_SET_REGS",    [STAGE_RUN] = "KVM_RUN",       [STAGE_DONE] = "done",
};

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

#define GUEST_FAIL(rep, st)  \
    do {                     \
        (rep)->stage = (st); \
        (rep)->err = errno;  \
        return 1;            \
    } while (0)

/* Child side: raw syscalls only (we are after fork). */
static int guest_child(void *arg)
{
    struct guest_report *rep = arg;
    /* 16-bit real mode: mov dx,OUTER; again: mov cx,0xffff; loop $; dec dx; jnz again; hlt */
    const unsigned char code[] = {
        0xba, KVM_PROBE_OUTER & 0xff, KVM_PROBE_OUTER >> 8, 0xb9, 0xff, 0xff, 0xe2, 0xfe, 0x4a, 0x75, 0xf8, 0xf4};
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        GUEST_FAIL(rep, STAGE_OPEN);
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        GUEST_FAIL(rep, STAGE_VM);
    unsigned char *mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        GUEST_FAIL(rep, STAGE_MEM);
    for (size_t i = 0; i < sizeof(code); i++)
        mem[GUEST_CODE_ADDR + i] = code[i];
    struct kvm_userspace_memory_region region = {.slot = 0,
                                                 .guest_phys_addr = 0,
                                                 .memory_size = GUEST_MEM_SIZE,
                                                 .userspace_addr = (uintptr_t)mem};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        GUEST_FAIL(rep, STAGE_MEM);
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        GUEST_FAIL(rep, STAGE_VCPU);
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0)
        GUEST_FAIL(rep, STAGE_MMAP);
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        GUEST_FAIL(rep, STAGE_MMAP);
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        GUEST_FAIL(rep, STAGE_SREGS);
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        GUEST_FAIL(rep, STAGE_SREGS);
    struct kvm_regs regs = {.rip = GUEST_CODE_ADDR, .rflags = 0x2};
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        GUEST_FAIL(rep, STAGE_REGS);
    int64_t t0 = mono_ns();
    int r;
    while ((r = ioctl(vcpu, KVM_RUN, 0)) < 0 && errno == EINTR)
        ;
    rep->ns = mono_ns() - t0;
    if (r < 0)
        GUEST_FAIL(rep, STAGE_RUN);
    rep->exit_reason = (int)run->exit_reason;
    rep->stage = STAGE_DONE;
    return 0;
}

void kvm_probe_time_guest(struct kvm_probe *p)
{
    if (!kvm_probe_usable(p))
        return;
    p->timed = true;
    p->iterations = (uint64_t)KVM_PROBE_OUTER * 0xffff;
    struct guest_report *rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (rep == MAP_FAILED) {
        snprintf(p->guest_error, sizeof(p->guest_error), "mmap: %s", strerror(errno));
        return;
    }
    memset(rep, 0, sizeof(*rep));
    pyro_error err = {0};
    int status = 0;
    int r = probe_run(guest_child, rep, KVM_PROBE_TIMEOUT_MS, &status, &err);
    if (r == -PYRO_E_TIMEOUT) {
        p->guest_timeout = true;
        snprintf(p->guest_error, sizeof(p->guest_error), "test guest did not halt within %d ms", KVM_PROBE_TIMEOUT_MS);
    } else if (r < 0) {
        snprintf(p->guest_error, sizeof(p->guest_error), "%s", err.message);
    } else if (rep->stage != STAGE_DONE) {
        int st = rep->stage > 0 && rep->stage < STAGE_DONE ? rep->stage : STAGE_RUN;
        snprintf(p->guest_error, sizeof(p->guest_error), "%s failed: %s (child status %d)", stage_names[st],
                 strerror(rep->err), status);
    } else if (rep->exit_reason != KVM_EXIT_HLT) {
        snprintf(p->guest_error, sizeof(p->guest_error), "test guest stopped with exit reason %d, not HLT",
                 rep->exit_reason);
    } else {
        p->guest_halted = true;
        p->guest_ns = rep->ns;
    }
    log_debug("kvm probe: guest halted=%d ns=%lld %s", p->guest_halted, (long long)p->guest_ns, p->guest_error);
    munmap(rep, sizeof(*rep));
}

void kvm_probe_run(struct kvm_probe *p, bool timed)
{
    memset(p, 0, sizeof(*p));
    p->api_version = -1;
    struct stat st;
    p->pvm_module = stat("/sys/module/kvm_pvm", &st) == 0;
    p->cpu_virt = probe_file_has_word("/proc/cpuinfo", "vmx") || probe_file_has_word("/proc/cpuinfo", "svm");
    p->device = stat("/dev/kvm", &st) == 0;
    if (!p->device) {
        p->open_errno = ENOENT;
        return;
    }
    _cleanup_close_ int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        p->open_errno = errno;
        return;
    }
    p->api_version = ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (p->api_version != KVM_API_VERSION)
        return;
    _cleanup_close_ int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) {
        p->create_vm_errno = errno;
        return;
    }
    p->create_vm = true;
    if (timed)
        kvm_probe_time_guest(p);
}

bool kvm_probe_usable(const struct kvm_probe *p)
{
    return p->device && p->open_errno == 0 && p->api_version == KVM_API_VERSION && p->create_vm;
}

bool kvm_probe_native(const struct kvm_probe *p)
{
    return p->guest_halted && p->iterations > 0 && (uint64_t)p->guest_ns <= p->iterations * KVM_PROBE_MAX_NS_PER_ITER;
}
