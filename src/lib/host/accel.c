#include "lib/host/accel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

enum accel_mode { ACCEL_AUTO, ACCEL_KVM, ACCEL_TCG };

static int accel_mode_get(enum accel_mode *mode, pyro_error *err)
{
    const char *v = getenv(ACCEL_ENV);
    if (!v || !v[0] || !strcmp(v, "auto"))
        *mode = ACCEL_AUTO;
    else if (!strcmp(v, "kvm"))
        *mode = ACCEL_KVM;
    else if (!strcmp(v, "tcg"))
        *mode = ACCEL_TCG;
    else
        return err_set(err, -PYRO_E_INVALID, "%s must be kvm, tcg or auto, got '%.64s'", ACCEL_ENV, v);
    return 0;
}

static void choice_set(struct accel_choice *out, const char *name, bool forced, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void choice_set(struct accel_choice *out, const char *name, bool forced, const char *fmt, ...)
{
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->forced = forced;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
}

static const char *kvm_unusable_reason(const struct kvm_probe *p, char *buf, size_t size)
{
    if (!p->device)
        snprintf(buf, size, "/dev/kvm does not exist");
    else if (p->open_errno)
        snprintf(buf, size, "cannot open /dev/kvm read-write: %s", strerror(p->open_errno));
    else if (p->api_version != 12)
        snprintf(buf, size, "/dev/kvm reports API version %d, not 12", p->api_version);
    else
        snprintf(buf, size, "KVM_CREATE_VM failed: %s", strerror(p->create_vm_errno));
    return buf;
}

int accel_decide(const struct kvm_probe *p, struct accel_choice *out, pyro_error *err)
{
    enum accel_mode mode;
    int r = accel_mode_get(&mode, err);
    if (r < 0)
        return r;
    char why[160];
    if (mode == ACCEL_TCG) {
        choice_set(out, "tcg", true, "%s=tcg", ACCEL_ENV);
        return 0;
    }
    if (!kvm_probe_usable(p)) {
        kvm_unusable_reason(p, why, sizeof(why));
        if (mode == ACCEL_KVM)
            return err_set(err, -PYRO_E_UNSUPPORTED, "%s=kvm but %s", ACCEL_ENV, why);
        choice_set(out, "tcg", false, "KVM unusable: %s", why);
        return 0;
    }
    if (mode == ACCEL_KVM) {
        choice_set(out, "kvm", true, "%s=kvm", ACCEL_ENV);
        return 0;
    }
    if (p->pvm_module) {
        choice_set(out, "tcg", false,
                   "kvm_pvm module loaded: /dev/kvm is a paravirtual nested host where stock guest kernels "
                   "boot in minutes");
        return 0;
    }
    if (!p->cpu_virt) {
        choice_set(out, "tcg", false,
                   "CPU lacks vmx/svm flags: /dev/kvm is not hardware virtualization, guests run emulated");
        return 0;
    }
    if (p->timed && !p->guest_halted) {
        choice_set(out, "tcg", false, "KVM test guest failed: %s", p->guest_error);
        return 0;
    }
    if (p->timed && !kvm_probe_native(p)) {
        choice_set(out, "tcg", false, "KVM test guest ran %.0f ns per loop iteration (native is under %d ns)",
                   (double)p->guest_ns / (double)p->iterations, KVM_PROBE_MAX_NS_PER_ITER);
        return 0;
    }
    if (p->timed)
        choice_set(out, "kvm", false, "hardware virtualization; test guest ran at native speed (%.1f ns/iteration)",
                   (double)p->guest_ns / (double)p->iterations);
    else
        choice_set(out, "kvm", false, "hardware virtualization (vmx/svm) and a usable /dev/kvm");
    return 0;
}

int accel_choose(struct accel_choice *out, pyro_error *err)
{
    enum accel_mode mode;
    int r = accel_mode_get(&mode, err);
    if (r < 0)
        return r;
    struct kvm_probe p;
    if (mode == ACCEL_TCG)
        memset(&p, 0, sizeof(p));
    else
        kvm_probe_run(&p, false);
    /* Time a guest only where nothing else already told the host apart. */
    if (mode == ACCEL_AUTO && kvm_probe_usable(&p) && !p.pvm_module && p.cpu_virt)
        kvm_probe_time_guest(&p);
    r = accel_decide(&p, out, err);
    if (r == 0)
        log_debug("vm accelerator: %s (%s)", out->name, out->reason);
    return r;
}
