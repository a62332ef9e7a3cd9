/* The VM backend's accelerator decision: KVM when a guest runs natively on
 * this host, else TCG (QEMU's software emulation), with the reason.
 * $PYRO_VM_ACCEL=kvm|tcg|auto overrides it (auto, the default, probes). */
#ifndef PYRO_ACCEL_H
#define PYRO_ACCEL_H

#include <stdbool.h>

#include "base/err.h"
#include "lib/host/kvm_probe.h"

#define ACCEL_ENV "PYRO_VM_ACCEL"

struct accel_choice {
    char name[8];     /* "kvm" or "tcg": QEMU's -accel value */
    char reason[320]; /* one line: why */
    bool forced;      /* chosen by $PYRO_VM_ACCEL */
};

/* Decides from the environment and a probe of /dev/kvm (with a timed guest
 * run when needed). Errors: -PYRO_E_INVALID when $PYRO_VM_ACCEL is not
 * kvm, tcg or auto; -PYRO_E_UNSUPPORTED when it says kvm and /dev/kvm is
 * unusable. */
int accel_choose(struct accel_choice *out, pyro_error *err);
/* The same decision from a probe the caller already ran (doctor shows the
 * probe's details too). An untimed probe on a host that is not otherwise
 * recognised as slow counts as native. */
int accel_decide(const struct kvm_probe *p, struct accel_choice *out, pyro_error *err);

#endif
