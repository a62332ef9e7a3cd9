/* pyro doctor: host readiness report (docs/doctor.md). The checks live in
 * doctor_checks.c, those of rootless operation in doctor_rootless.c, the
 * operation and its summaries in doctor.c. */
#ifndef PYRO_DOCTOR_H
#define PYRO_DOCTOR_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/host/accel.h"
#include "lib/host/cgroup_probe.h"
#include "lib/host/kvm_probe.h"
#include "lib/host/qemu_probe.h"

#define DOCTOR_MAX_ENVIRONMENTS 256

/* What the checks learnt, for the backend summaries. */
struct doctor {
    json_t *checks; /* array of {name, status, detail, hint} */
    bool root;
    /* sandbox backend */
    bool userns_ok; /* unshare(CLONE_NEWUSER) works as the current user */
    bool ns_ok;
    bool overlay_ok;
    int overlay_errno;        /* the probe as this user (0: works) */
    const char *overlay_step; /* the step that failed */
    bool seccomp_ok;
    /* rootless operation (as root: what an ordinary user would find) */
    bool userns_unpriv_ok; /* unshare(CLONE_NEWUSER) works without privilege */
    bool subids_ok;
    bool uidmap_ok;
    bool overlay_userns_ok;
    bool usernet_ok;
    struct cgroup_probe cgroup;
    struct cgroups_user delegation; /* cgroup_delegation_probe */
    char user[64];                  /* the user named in fixes: ours, or SUDO_USER as root, else "USER" */
    /* vm backend */
    struct qemu_info qemu;
    bool qemu_ok; /* found and answered its queries */
    struct kvm_probe kvm;
    bool accel_ok; /* accel_decide succeeded */
    struct accel_choice accel;
    char accel_error[PYRO_ERROR_MESSAGE_MAX];
};

/* Appends a check; detail is printf-formatted and sanitised to UTF-8. */
void doctor_check_add(struct doctor *d, const char *name, const char *status, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

void doctor_check_platform(struct doctor *d, json_t *result);
void doctor_check_kvm(struct doctor *d);
void doctor_check_qemu(struct doctor *d);
void doctor_check_userns(struct doctor *d);
void doctor_check_namespaces(struct doctor *d);
void doctor_check_overlayfs(struct doctor *d, const char *scratch_parent);
/* TMPDIR when others may search it, else /tmp: scratch space for probes
 * that run as another uid. */
const char *doctor_scratch_tmp(void);
/* The fix for a failed overlay probe (errno e at step). */
const char *doctor_overlay_hint(const struct doctor *d, int e, const char *step);
json_t *doctor_check_cgroups(struct doctor *d);
void doctor_check_seccomp(struct doctor *d);
void doctor_check_network(struct doctor *d);
void doctor_check_disk_quota(struct doctor *d);

/* doctor_rootless.c */
void doctor_check_subids(struct doctor *d);
void doctor_check_uidmap(struct doctor *d);
void doctor_check_overlay_userns(struct doctor *d, const char *scratch_parent);
void doctor_check_user_network(struct doctor *d);
void doctor_check_cgroup_delegation(struct doctor *d);
void doctor_check_kvm_group(struct doctor *d);
void doctor_check_id_pool(struct doctor *d);
/* {ready, missing, summary}: "ready" or "not ready (missing: ...)". */
json_t *doctor_rootless_summary(const struct doctor *d);
/* {uid, memory, pids, cpu: {enforced, by}, summary} for the current user. */
json_t *doctor_sandbox_limits(const struct doctor *d);

#endif
