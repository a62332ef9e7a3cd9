/* What /dev/kvm offers on this host, and whether a guest runs at native
 * speed there. Paravirtual nested hosts (the kvm_pvm module) expose a
 * working /dev/kvm on which a stock guest kernel takes minutes to boot; the
 * timed guest run below tells them apart from real hardware virtualization. */
#ifndef PYRO_KVM_PROBE_H
#define PYRO_KVM_PROBE_H

#include <stdbool.h>
#include <stdint.h>

/* A guest slower than this per loop iteration is not running natively: a
 * real-mode LOOP costs 1-7 cycles on hardware (under 5 ns even at 1 GHz);
 * emulated it costs hundreds of nanoseconds. */
#define KVM_PROBE_MAX_NS_PER_ITER 20
/* The timed guest runs KVM_PROBE_OUTER * 65535 iterations. */
#define KVM_PROBE_OUTER 8
#define KVM_PROBE_TIMEOUT_MS 3000

struct kvm_probe {
    bool device;     /* /dev/kvm exists */
    int open_errno;  /* 0 when /dev/kvm opened read-write */
    int api_version; /* KVM_GET_API_VERSION, -1 when unknown */
    bool create_vm;  /* KVM_CREATE_VM worked */
    int create_vm_errno;
    bool pvm_module; /* the kvm_pvm module is loaded */
    bool cpu_virt;   /* /proc/cpuinfo lists vmx or svm */
    /* The timed guest run (only attempted when asked and KVM_CREATE_VM works). */
    bool timed;         /* a run was attempted */
    bool guest_halted;  /* the guest reached its HLT */
    bool guest_timeout; /* it did not within KVM_PROBE_TIMEOUT_MS */
    uint64_t iterations;
    int64_t guest_ns; /* wall time spent in KVM_RUN */
    char guest_error[128];
};

/* Fills p. Never fails: every finding, including errors, is a field.
 * With timed, also runs a tiny real-mode guest (a counted loop, then HLT)
 * in a forked child bounded by KVM_PROBE_TIMEOUT_MS. */
void kvm_probe_run(struct kvm_probe *p, bool timed);
/* Runs the timed guest for a probe that did not (no-op unless usable). */
void kvm_probe_time_guest(struct kvm_probe *p);
/* /dev/kvm is usable: opened read-write, API 12, KVM_CREATE_VM works. */
bool kvm_probe_usable(const struct kvm_probe *p);
/* The timed guest halted and ran at native speed. */
bool kvm_probe_native(const struct kvm_probe *p);

#endif
