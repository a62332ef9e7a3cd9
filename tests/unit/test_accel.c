/* The accelerator decision: pure decisions from given probe findings, and
 * the real probe of this host's /dev/kvm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/timeutil.h"
#include "lib/host/accel.h"

/* Findings of a host with working hardware virtualization. */
static struct kvm_probe good_host(void)
{
    struct kvm_probe p = {.device = true,
                          .api_version = 12,
                          .create_vm = true,
                          .cpu_virt = true,
                          .timed = true,
                          .guest_halted = true,
                          .iterations = 524280,
                          .guest_ns = 1000000};
    return p;
}

static void decide(const struct kvm_probe *p, const char *env, const char *want, const char *reason_has)
{
    if (env)
        setenv(ACCEL_ENV, env, 1);
    else
        unsetenv(ACCEL_ENV);
    struct accel_choice ch;
    pyro_error err = {0};
    int r = accel_decide(p, &ch, &err);
    unsetenv(ACCEL_ENV);
    if (r < 0)
        fail_msg("accel_decide failed: %s", err.message);
    assert_string_equal(ch.name, want);
    if (!strstr(ch.reason, reason_has))
        fail_msg("reason '%s' lacks '%s'", ch.reason, reason_has);
}

static void test_decide_auto(void **state)
{
    (void)state;
    struct kvm_probe p = good_host();
    decide(&p, NULL, "kvm", "native speed");
    decide(&p, "auto", "kvm", "native speed");
    decide(&p, "", "kvm", "native speed");

    p = good_host();
    p.pvm_module = true;
    decide(&p, NULL, "tcg", "kvm_pvm");

    p = good_host();
    p.cpu_virt = false;
    decide(&p, NULL, "tcg", "vmx/svm");

    p = good_host();
    p.guest_ns = (int64_t)p.iterations * 450; /* what a kvm_pvm host measures */
    decide(&p, NULL, "tcg", "450 ns per loop iteration");

    p = good_host();
    p.guest_halted = false;
    p.guest_timeout = true;
    strcpy(p.guest_error, "test guest did not halt within 3000 ms");
    decide(&p, NULL, "tcg", "did not halt");

    struct kvm_probe none = {.api_version = -1, .open_errno = ENOENT};
    decide(&none, NULL, "tcg", "/dev/kvm does not exist");
    struct kvm_probe denied = {.device = true, .api_version = -1, .open_errno = EACCES};
    decide(&denied, NULL, "tcg", "Permission denied");
}

static void test_decide_forced(void **state)
{
    (void)state;
    struct kvm_probe p = good_host();
    p.pvm_module = true;
    decide(&p, "kvm", "kvm", "PYRO_VM_ACCEL=kvm");
    decide(&p, "tcg", "tcg", "PYRO_VM_ACCEL=tcg");
    p = good_host();
    decide(&p, "tcg", "tcg", "PYRO_VM_ACCEL=tcg");

    /* Forcing KVM where /dev/kvm is unusable is an error, not a silent TCG. */
    struct kvm_probe none = {.api_version = -1, .open_errno = ENOENT};
    setenv(ACCEL_ENV, "kvm", 1);
    struct accel_choice ch;
    pyro_error err = {0};
    assert_int_equal(accel_decide(&none, &ch, &err), -PYRO_E_UNSUPPORTED);
    assert_non_null(strstr(err.message, "/dev/kvm does not exist"));
    unsetenv(ACCEL_ENV);
}

static void test_decide_invalid_env(void **state)
{
    (void)state;
    struct kvm_probe p = good_host();
    const char *bad[] = {"KVM", "hvf", "kvm,tcg", " tcg"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv(ACCEL_ENV, bad[i], 1);
        struct accel_choice ch;
        pyro_error err = {0};
        assert_int_equal(accel_decide(&p, &ch, &err), -PYRO_E_INVALID);
        assert_non_null(strstr(err.message, "must be kvm, tcg or auto"));
        assert_int_equal(accel_choose(&ch, &err), -PYRO_E_INVALID);
    }
    unsetenv(ACCEL_ENV);
}

/* The real probe on this host; only what the host allows is asserted. */
static void test_host_probe(void **state)
{
    (void)state;
    struct kvm_probe p;
    kvm_probe_run(&p, true);
    struct stat st;
    assert_int_equal(p.device, stat("/dev/kvm", &st) == 0);
    assert_int_equal(p.pvm_module, stat("/sys/module/kvm_pvm", &st) == 0);
    if (!kvm_probe_usable(&p))
        skip();
    assert_true(p.timed);
    assert_true(p.guest_halted || p.guest_error[0]);
    if (p.guest_halted) {
        assert_int_equal(p.iterations, (uint64_t)KVM_PROBE_OUTER * 0xffff);
        assert_true(p.guest_ns > 0 && p.guest_ns < (int64_t)KVM_PROBE_TIMEOUT_MS * 1000000);
    }

    unsetenv(ACCEL_ENV);
    struct accel_choice ch;
    pyro_error err = {0};
    int64_t t0 = time_mono_ms();
    assert_int_equal(accel_choose(&ch, &err), 0);
    assert_true(time_mono_ms() - t0 < KVM_PROBE_TIMEOUT_MS + 1000);
    assert_false(ch.forced);
    if (p.pvm_module) {
        /* This machine class: /dev/kvm works but guests crawl. */
        assert_string_equal(ch.name, "tcg");
        assert_non_null(strstr(ch.reason, "kvm_pvm"));
        /* And the timed guest shows it on its own: real mode is emulated there. */
        if (p.guest_halted)
            assert_false(kvm_probe_native(&p));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide_auto),
        cmocka_unit_test(test_decide_forced),
        cmocka_unit_test(test_decide_invalid_env),
        cmocka_unit_test(test_host_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
