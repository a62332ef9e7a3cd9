/* Parameters shared by several operations, declared once. Bounds and
 * defaults here are the documented ones (docs/vm.md, README). */
#ifndef PYRO_PARAMS_H
#define PYRO_PARAMS_H

#include "backend/backend.h"
#include "base/cleanup.h"
#include "lib/contract/contract.h"

#define PYRO_DEFAULT_VCPU_COUNT 1
#define PYRO_DEFAULT_MEM_MIB 1024
#define PYRO_MAX_VCPU_COUNT 32
#define PYRO_MAX_MEM_MIB 65536
#define PYRO_DEFAULT_TIMEOUT_SECONDS 30
#define PYRO_DEFAULT_VM_TTL_SECONDS 600
#define PYRO_MAX_TTL_SECONDS (7 * 24 * 3600)
#define PYRO_COMMAND_MAX (64 * 1024)
/* Tasks per sandbox (pids cgroup). */
#define PYRO_DEFAULT_PIDS_MAX 1024

#define PARAM_ENVIRONMENT                                                                                    \
    PARAM_STR("environment",                                                                                 \
              "Environment to boot, e.g. debian:12, or a pulled OCI image reference (see 'pyro env list').", \
              .flags = PF_REQUIRED | PF_POSITIONAL, .max = 383)
#define PARAM_VCPU_COUNT                                                                               \
    PARAM_INT("vcpu_count", "Virtual CPUs (a CPU quota in the sandbox backend).", .has_default = true, \
              .def_int = PYRO_DEFAULT_VCPU_COUNT, .min = 1, .max = PYRO_MAX_VCPU_COUNT)
#define PARAM_MEM_MIB                                                                                               \
    PARAM_INT("mem_mib", "Memory limit in MiB; swap is off.", .has_default = true, .def_int = PYRO_DEFAULT_MEM_MIB, \
              .min = 128, .max = PYRO_MAX_MEM_MIB)
/* The writable disk's quota (docs/vm.md "Disk quota"): a sparse ext4
 * image of disk_mib MiB. Workspaces always have one; a one-shot VM gets
 * BACKEND_VM_DISK_MIB (8192) without disk_mib, and a one-shot sandbox no
 * image at all (a plain directory: the fast path of pyro run). */
#define PYRO_DEFAULT_WORKSPACE_DISK_MIB 4096
#define PYRO_MIN_DISK_MIB 64
#define PYRO_MAX_DISK_MIB 262144
#define PARAM_DISK_MIB                                                                                              \
    PARAM_INT("disk_mib",                                                                                           \
              "Disk quota in MiB: writes past it fail with ENOSPC inside. Default: none on the sandbox backend "    \
              "(a plain host directory, the fastest start), " STRINGIFY(BACKEND_VM_DISK_MIB) " on the vm backend.", \
              .min = PYRO_MIN_DISK_MIB, .max = PYRO_MAX_DISK_MIB)
#define PARAM_WORKSPACE_DISK_MIB                                                                                  \
    PARAM_INT("disk_mib",                                                                                         \
              "Disk quota of the workspace in MiB (a sparse ext4 image holding every file it writes, /workspace " \
              "included): writes past it fail with ENOSPC inside; the seed must fit.",                            \
              .flags = PF_FULL_ONLY, .has_default = true, .def_int = PYRO_DEFAULT_WORKSPACE_DISK_MIB,             \
              .min = PYRO_MIN_DISK_MIB, .max = PYRO_MAX_DISK_MIB)
#define PARAM_TIMEOUT_SECONDS                                                                           \
    PARAM_INT("timeout_seconds", "Kill the command (its whole process group) after this many seconds.", \
              .has_default = true, .def_int = PYRO_DEFAULT_TIMEOUT_SECONDS, .min = 1, .max = 3600)
#define PARAM_VM_TTL_SECONDS                                                                                \
    PARAM_INT("ttl_seconds", "Lifetime from creation; the VM is stopped then and removed by reap_expired.", \
              .has_default = true, .def_int = PYRO_DEFAULT_VM_TTL_SECONDS, .min = 1, .max = PYRO_MAX_TTL_SECONDS)
#define PARAM_NETWORK PARAM_BOOL("network", "Give the VM outbound network access (NAT/pasta); off means only loopback.")
#define PARAM_ALLOW_HOST_COMPAT \
    PARAM_BOOL("allow_host_compat", "Allow falling back to weaker isolation when the VM backend cannot boot.")
/* The isolation backend (docs/vm.md); the default is $PYRO_BACKEND, else auto. */
extern const char *const contract_backend_choices[];
#define PYRO_BACKEND_ENV "PYRO_BACKEND"
#define PARAM_BACKEND                                                                                      \
    PARAM_STR("backend",                                                                                   \
              "Isolation backend: auto (vm where KVM runs guests natively, else sandbox), sandbox (Linux " \
              "namespaces) or vm (a QEMU microVM with its own kernel; KVM, else TCG emulation). Default: " \
              "$PYRO_BACKEND, else auto.",                                                                 \
              .choices = contract_backend_choices, .max = 16)
#define PARAM_COMMAND                                                                                        \
    PARAM_STR("command", "Shell command to run (/bin/sh -c) inside the VM.", .flags = PF_REQUIRED | PF_REST, \
              .max = PYRO_COMMAND_MAX)
#define PARAM_VM_ID PARAM_STR("vm_id", "VM id.", .flags = PF_REQUIRED | PF_POSITIONAL, .max = 64)

/* Workspaces (docs/workspaces.md). */
#define PYRO_DEFAULT_WORKSPACE_TTL_SECONDS 86400
#define PARAM_WORKSPACE_ID PARAM_STR("workspace_id", "Workspace id.", .flags = PF_REQUIRED | PF_POSITIONAL, .max = 64)
#define PARAM_WORKSPACE_TTL_SECONDS                                                                       \
    PARAM_INT("ttl_seconds",                                                                              \
              "Lifetime from creation (default 24 h, at most 7 days); the workspace is stopped then and " \
              "removed by reap_expired.",                                                                 \
              .has_default = true, .def_int = PYRO_DEFAULT_WORKSPACE_TTL_SECONDS, .min = 60,              \
              .max = PYRO_MAX_TTL_SECONDS)
#define PARAM_WORKSPACE_NAME PARAM_STR("name", "Optional human name (mutable metadata).", .max = 64)
#define PARAM_WORKSPACE_LABELS \
    PARAM_MAP("labels", "Labels as KEY=VALUE (mutable metadata).", .flag = "label", .metavar = "KEY=VALUE", .max = 32)
#define PARAM_SNAPSHOT_NAME                                                                     \
    PARAM_STR("snapshot_name", "Snapshot name: letters, digits, '.', '_' and '-', at most 64.", \
              .flags = PF_REQUIRED | PF_POSITIONAL, .max = 64)

#endif
