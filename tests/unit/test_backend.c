/* backend_get() and the monitor's refusal of an unknown backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/monitor.h"
#include "backend/sandbox/sandbox.h"
#include "backend/vm/internal.h"
#include "base/cleanup.h"
#include "base/paths.h"

static void test_get_sandbox(void **state)
{
    (void)state;
    const struct backend_ops *ops = NULL;
    pyro_error err = {0};
    assert_int_equal(backend_get("sandbox", &ops, &err), 0);
    assert_non_null(ops);
    assert_string_equal(ops->name, "sandbox");
    assert_ptr_equal(ops->start, sandbox_start);
    assert_ptr_equal(ops->kill, backend_instance_kill);
    assert_ptr_equal(ops->release, backend_instance_release);
    assert_ptr_equal(ops->destroy, sandbox_destroy);
}

static void test_get_vm(void **state)
{
    (void)state;
    const struct backend_ops *ops = NULL;
    pyro_error err = {0};
    assert_int_equal(backend_get("vm", &ops, &err), 0);
    assert_string_equal(ops->name, "vm");
    assert_ptr_equal(ops->start, vm_start);
    assert_ptr_equal(ops->kill, backend_instance_kill);
    assert_ptr_equal(ops->release, backend_instance_release);
    assert_ptr_equal(ops->destroy, vm_destroy);
}

static bool argv_has(char **argv, const char *s)
{
    for (size_t i = 0; argv[i]; i++)
        if (!strcmp(argv[i], s))
            return true;
    return false;
}

static const char *argv_after(char **argv, const char *opt)
{
    for (size_t i = 0; argv[i] && argv[i + 1]; i++)
        if (!strcmp(argv[i], opt))
            return argv[i + 1];
    return "";
}

/* QEMU's command line: microvm, TCG with -cpu max (KVM with -cpu host),
 * the seccomp sandbox, no defaults, no NIC without network, the root image
 * read-only, the channel on fd 3, commas in paths doubled. */
static void test_vm_argv(void **state)
{
    (void)state;
    struct backend_config cfg = {.id = "abc123",
                                 .vm_kernel = "/k/vmlinuz",
                                 .vm_initrd = "/k/initrd",
                                 .vm_root_image = "/k/a,b.ext4",
                                 .vcpu_count = 2,
                                 .mem_mib = 512};
    char **argv = vm_qemu_argv(&cfg, "/usr/bin/qemu-system-x86_64", 0);
    assert_string_equal(argv[0], "/usr/bin/qemu-system-x86_64");
    assert_string_equal(argv_after(argv, "-M"), "microvm");
    /* TCG's translation buffer capped: QEMU's cgroup limit counts it. */
    assert_string_equal(argv_after(argv, "-accel"), "tcg,tb-size=128");
    assert_string_equal(argv_after(argv, "-cpu"), "max");
    assert_string_equal(argv_after(argv, "-smp"), "2");
    assert_string_equal(argv_after(argv, "-m"), "512");
    assert_string_equal(argv_after(argv, "-sandbox"),
                        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    assert_true(argv_has(argv, "-nodefaults") && argv_has(argv, "-no-user-config") && argv_has(argv, "-no-reboot"));
    assert_false(argv_has(argv, "-netdev"));
    /* Every file through a descriptor the monitor opened: no path of the
     * host's reaches QEMU (an unprivileged id as root could not open it). */
    assert_string_equal(argv_after(argv, "-kernel"), "/proc/self/fd/6");
    assert_string_equal(argv_after(argv, "-initrd"), "/proc/self/fd/7");
    assert_true(argv_has(argv, "fd=8,set=8,opaque=root") && argv_has(argv, "fd=9,set=9,opaque=rw") &&
                argv_has(argv, "fd=10,set=9,opaque=ro"));
    assert_true(argv_has(argv, "id=root,file=/dev/fdset/8,format=raw,if=none,readonly=on"));
    assert_true(argv_has(argv, "id=rw,file=/dev/fdset/9,file.locking=off,format=raw,if=none,discard=unmap"));
    for (size_t i = 0; argv[i]; i++)
        assert_null(strstr(argv[i], "/k/"));
    assert_true(argv_has(argv, "socket,id=agent,fd=3"));
    assert_true(argv_has(argv, "virtio-rng-device"));
    const char *append = argv_after(argv, "-append");
    assert_non_null(strstr(append, "pyro.vm=1"));
    /* The hostname comes with the hello: a template's clones share this. */
    assert_null(strstr(append, "abc123"));
    assert_false(argv_has(argv, "-incoming") || argv_has(argv, "-mon"));
    assert_null(strstr(append, "pyro.net=1"));
    if (vm_host_tsc_khz() > 0)
        assert_non_null(strstr(append, "tsc_early_khz="));
    strv_free(argv);

    cfg.vm_accel = "kvm";
    cfg.network = true;
    argv = vm_qemu_argv(&cfg, "qemu", VM_ARGV_QMP | VM_ARGV_INCOMING);
    assert_string_equal(argv_after(argv, "-accel"), "kvm");
    assert_string_equal(argv_after(argv, "-cpu"), "host");
    /* User-mode networking without host forwarding, smb, tftp or IPv6
     * (it runs in QEMU's network namespace, behind the guard). */
    const char *netdev = argv_after(argv, "-netdev");
    assert_string_equal(netdev, "user,id=net0,restrict=off,ipv6=off");
    assert_null(strstr(netdev, "hostfwd"));
    assert_null(strstr(netdev, "smb"));
    assert_null(strstr(netdev, "tftp"));
    assert_non_null(strstr(argv_after(argv, "-append"), "pyro.net=1"));
    assert_null(strstr(argv_after(argv, "-append"), "tsc_early_khz"));
    assert_string_equal(argv_after(argv, "-incoming"), "fd:5");
    assert_string_equal(argv_after(argv, "-mon"), "chardev=qmp,mode=control");
    assert_true(argv_has(argv, "socket,id=qmp,fd=4"));
    strv_free(argv);
}

/* Templates beyond the cap go least recently used first; a maker's
 * temporary directory is removed only once it is stale. */
static void test_vm_template_evict(void **state)
{
    (void)state;
    char tdir[] = "/tmp/pyro-tmpl-XXXXXX";
    assert_non_null(mkdtemp(tdir));
    char path[256];
    time_t now = time(NULL);
    for (int i = 0; i < VM_TEMPLATE_MAX + 1; i++) {
        snprintf(path, sizeof(path), "%s/key%d", tdir, i);
        assert_int_equal(mkdir(path, 0700), 0);
        struct timespec t[2] = {{now - 100 + i, 0}, {now - 100 + i, 0}};
        assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
    }
    snprintf(path, sizeof(path), "%s/.tmp-old", tdir);
    assert_int_equal(mkdir(path, 0700), 0);
    struct timespec old[2] = {{now - 3600, 0}, {now - 3600, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    snprintf(path, sizeof(path), "%s/.tmp-new", tdir);
    assert_int_equal(mkdir(path, 0700), 0);
    vm_template_evict(tdir);
    for (int i = 0; i < VM_TEMPLATE_MAX + 1; i++) {
        snprintf(path, sizeof(path), "%s/key%d", tdir, i);
        /* Room for one more: the two oldest went. */
        assert_int_equal(access(path, F_OK) == 0, i >= 2);
    }
    snprintf(path, sizeof(path), "%s/.tmp-old", tdir);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/.tmp-new", tdir);
    assert_int_equal(access(path, F_OK), 0);
    pyro_error e = {0};
    assert_int_equal(rm_rf(tdir, &e), 0);
}

/* QEMU's cgroup: the guest's memory plus QEMU's own (the TCG translation
 * buffer included), a CPU quota of vcpu_count, a finite pids limit with
 * room for a thread per vCPU, /dev/kvm only under KVM. */
static void test_vm_jail_limits(void **state)
{
    (void)state;
    struct backend_config cfg = {.id = "abc123", .vcpu_count = 32, .mem_mib = 1024, .cgroup_parent_mem_mib = 4096};
    struct cgroups_limits lim = vm_jail_limits(&cfg);
    assert_int_equal(lim.mem_mib, 1024 + VM_QEMU_OVERHEAD_MIB);
    assert_true(VM_QEMU_OVERHEAD_MIB > VM_TCG_TB_MIB);
    assert_int_equal(lim.vcpu_count, 32);
    assert_int_equal(lim.pids_max, VM_QEMU_TASKS + 32);
    assert_true(lim.pids_max > 32 + 2 + 64 && lim.pids_max < 1024);
    assert_int_equal(lim.parent_mem_mib, 4096);
    assert_false(lim.allow_kvm);
    cfg.vm_accel = "kvm";
    cfg.vcpu_count = 0;
    lim = vm_jail_limits(&cfg);
    assert_true(lim.allow_kvm);
    assert_int_equal(lim.vcpu_count, 1);
    assert_string_equal(vm_cgroup_parent(&cfg), "pyro");
    cfg.cgroup_parent = "pyro-test";
    assert_string_equal(vm_cgroup_parent(&cfg), "pyro-test");
}

static void test_get_unknown(void **state)
{
    (void)state;
    const char *names[] = {"VM", "", "Sandbox", "sandbox ", "vm ", NULL};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const struct backend_ops *ops = NULL;
        pyro_error err = {0};
        assert_int_equal(backend_get(names[i], &ops, &err), -PYRO_E_INVALID);
        assert_null(ops); /* untouched */
        assert_non_null(strstr(err.message, "unknown backend"));
        assert_non_null(strstr(err.message, "known: sandbox, vm"));
        if (names[i]) {
            char quoted[64];
            snprintf(quoted, sizeof(quoted), "'%s'", names[i]);
            assert_non_null(strstr(err.message, quoted));
        }
    }
    assert_int_equal(backend_get("qemu", &(const struct backend_ops *){NULL}, NULL), -PYRO_E_INVALID);
}

/* A monitor asked for a backend that does not exist reports it and creates
 * nothing (no monitor.json, no backend directory). */
static void test_monitor_unknown_backend(void **state)
{
    (void)state;
    char dir[] = "/tmp/pyro-test-backend.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct monitor_config cfg = {
        .backend = "nope",
        .dir = dir,
        .id = "tbackend",
        .rootfs = "/nonexistent",
        .agent_path = "/nonexistent",
        .vcpu_count = 1,
        .mem_mib = 64,
        .pids_max = 16,
        .expires_at_ms = INT64_MAX / 2,
    };
    int pid = 0;
    pyro_error err = {0};
    assert_int_equal(monitor_spawn(&cfg, 10000, &pid, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "unknown backend 'nope'"));
    char p[512];
    snprintf(p, sizeof(p), "%s/monitor.json", dir);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(p, sizeof(p), "%s/sandbox", dir);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(rm_rf(dir, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_sandbox),
        cmocka_unit_test(test_get_vm),
        cmocka_unit_test(test_vm_argv),
        cmocka_unit_test(test_vm_template_evict),
        cmocka_unit_test(test_vm_jail_limits),
        cmocka_unit_test(test_get_unknown),
        cmocka_unit_test(test_monitor_unknown_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
