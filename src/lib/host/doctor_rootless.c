/* The doctor checks of rootless operation (docs/doctor.md "Rootless
 * operation"): what pyro as an ordinary user needs, each with the exact fix.
 * As root they judge the host for ordinary users and warn instead of fail,
 * since root runs without them; id_pool checks root's own id range. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/idmap.h"
#include "base/json.h"
#include "lib/host/doctor.h"
#include "lib/host/host_probe.h"
#include "lib/host/rootless_probe.h"
#include "lib/host/subid.h"

#define SUBUID_FILE "/etc/subuid"
#define SUBGID_FILE "/etc/subgid"

/* A rootless requirement that is missing: fail for a user, warn as root. */
static const char *missing_status(const struct doctor *d)
{
    return d->root ? "warn" : "fail";
}

/* The user named in fixes: ours, or as root the one sudo came from. */
static const char *fix_user(struct doctor *d, struct passwd **pw_out)
{
    struct passwd *pw = NULL;
    if (!d->root) {
        pw = getpwuid(geteuid());
    } else {
        const char *sudo = getenv("SUDO_USER");
        pw = sudo && sudo[0] && strcmp(sudo, "root") ? getpwnam(sudo) : NULL;
    }
    snprintf(d->user, sizeof(d->user), "%s", pw ? pw->pw_name : "USER");
    if (pw_out)
        *pw_out = pw;
    return d->user;
}

/* The first free range of both files, as "S-E". */
static void free_range(char *buf, size_t size)
{
    _cleanup_free_ struct idmap_subid *u = NULL, *g = NULL;
    size_t nu = 0, ng = 0;
    (void)subid_ranges_read(SUBUID_FILE, &u, &nu);
    (void)subid_ranges_read(SUBGID_FILE, &g, &ng);
    _cleanup_free_ struct idmap_subid *all = xcalloc(nu + ng + 1, sizeof(*all));
    if (nu)
        memcpy(all, u, nu * sizeof(*all));
    if (ng)
        memcpy(all + nu, g, ng * sizeof(*all));
    unsigned long s = subid_free_start(all, nu + ng, SUBID_MIN, IDMAP_COUNT);
    snprintf(buf, size, "%lu-%lu", s, s + IDMAP_COUNT - 1);
}

static void file_text(const char *file, const struct subid_file_eval *e, char *buf, size_t size)
{
    if (e->ok)
        snprintf(buf, size, "%s maps 0-%u to %lu-%lu", file, IDMAP_COUNT - 1, e->start, e->start + IDMAP_COUNT - 1);
    else if (e->error)
        snprintf(buf, size, "%s is unreadable: %s", file, strerror(e->error));
    else if (e->any)
        snprintf(buf, size, "%s has only ranges smaller than %u ids", file, IDMAP_COUNT);
    else
        snprintf(buf, size, "%s has no range", file);
}

/* One user's ranges: *ok and the check line's detail and hint. */
static bool subids_of(const struct passwd *pw, char *detail, size_t dsize, char *hint, size_t hsize)
{
    struct subid_file_eval u, g;
    subid_user_eval(SUBUID_FILE, SUBGID_FILE, pw->pw_name, pw->pw_uid, &u, &g);
    char ut[160], gt[160], range[48];
    file_text(SUBUID_FILE, &u, ut, sizeof(ut));
    file_text(SUBGID_FILE, &g, gt, sizeof(gt));
    snprintf(detail, dsize, "user %s (uid %u): %s; %s", pw->pw_name, (unsigned)pw->pw_uid, ut, gt);
    free_range(range, sizeof(range));
    hint[0] = '\0';
    if (!u.ok || !g.ok)
        snprintf(hint, hsize, "as root: usermod%s%s%s%s %s", u.ok ? "" : " --add-subuids ", u.ok ? "" : range,
                 g.ok ? "" : " --add-subgids ", g.ok ? "" : range, pw->pw_name);
    return u.ok && g.ok;
}

void doctor_check_subids(struct doctor *d)
{
    struct passwd *pw;
    const char *user = fix_user(d, &pw);
    char detail[400], hint[200];
    if (!d->root) {
        if (!pw) {
            d->subids_ok = false;
            doctor_check_add(d, "subordinate_ids", "fail", "give the user an entry in the user database",
                             "uid %u has no name in the user database", (unsigned)geteuid());
            return;
        }
        d->subids_ok = subids_of(pw, detail, sizeof(detail), hint, sizeof(hint));
        doctor_check_add(d, "subordinate_ids", d->subids_ok ? "pass" : "fail", hint, "%s", detail);
        return;
    }
    if (pw) { /* root through sudo: the user who would run pyro */
        d->subids_ok = subids_of(pw, detail, sizeof(detail), hint, sizeof(hint));
        doctor_check_add(d, "subordinate_ids", d->subids_ok ? "pass" : "warn", hint,
                         "as root sandboxes use the id pool (id_pool); rootless %s", detail);
        return;
    }
    char users[200], range[48];
    size_t n = subid_ready_users(SUBUID_FILE, SUBGID_FILE, users, sizeof(users));
    d->subids_ok = n > 0;
    if (n) {
        doctor_check_add(d, "subordinate_ids", "pass", "",
                         "as root sandboxes use the id pool (id_pool); %zu user%s can run pyro rootless: %s", n,
                         n == 1 ? "" : "s", users);
        return;
    }
    free_range(range, sizeof(range));
    snprintf(hint, sizeof(hint), "usermod --add-subuids %s --add-subgids %s %s", range, range, user);
    doctor_check_add(d, "subordinate_ids", "warn", hint,
                     "as root sandboxes use the id pool (id_pool); no user has a range of %u ids in both %s and %s, "
                     "so none can run pyro rootless",
                     IDMAP_COUNT, SUBUID_FILE, SUBGID_FILE);
}

static void helper_text(const char *name, const struct map_helper *h, char *buf, size_t size)
{
    if (!h->path[0])
        snprintf(buf, size, "%s not found on PATH", name);
    else
        snprintf(buf, size, "%s (%s)", h->path,
                 h->setuid_root ? "setuid root"
                 : h->filecap   ? (!strcmp(name, "newuidmap") ? "cap_setuid" : "cap_setgid")
                                : "neither setuid root nor with the file capability it needs");
}

void doctor_check_uidmap(struct doctor *d)
{
    struct map_helper hu, hg;
    map_helper_probe("newuidmap", CAP_SETUID, &hu);
    map_helper_probe("newgidmap", CAP_SETGID, &hg);
    char ut[320], gt[320];
    helper_text("newuidmap", &hu, ut, sizeof(ut));
    helper_text("newgidmap", &hg, gt, sizeof(gt));
    d->uidmap_ok = map_helper_ok(&hu) && map_helper_ok(&hg);
    if (!d->uidmap_ok) {
        const char *hint = !hu.path[0] || !hg.path[0]
                               ? "apt-get install uidmap"
                               : "apt-get install --reinstall uidmap (it installs them setuid root)";
        doctor_check_add(d, "uidmap", missing_status(d), hint, "%s; %s", ut, gt);
        return;
    }
    if (d->root) {
        doctor_check_add(d, "uidmap", "pass", "", "%s; %s (as root pyro writes the id maps itself)", ut, gt);
        return;
    }
    if (!d->subids_ok) {
        doctor_check_add(d, "uidmap", "pass", "", "%s; %s (not tried: see subordinate_ids)", ut, gt);
        return;
    }
    struct idmap m;
    pyro_error err = {0};
    int r = idmap_resolve(&m, &err);
    if (r == 0)
        r = rootless_map_probe(&m, &err);
    d->uidmap_ok = r == 0;
    if (r == 0)
        doctor_check_add(d, "uidmap", "pass", "", "%s; %s; a test child's ids 0-%u map to %u-%u", ut, gt, m.count - 1,
                         (unsigned)m.uid_base, (unsigned)(m.uid_base + m.count - 1));
    else
        doctor_check_add(d, "uidmap", "fail",
                         "newuidmap and newgidmap map only the ranges /etc/subuid and /etc/subgid give the user",
                         "%s; %s; mapping a test child failed: %s", ut, gt, err.message);
}

/* As a user: the overlayfs check's probe, which is how a rootless sandbox
 * mounts it. As root: the same probe by a child that drops to uid 65534
 * first, in a directory it owns below TMPDIR. */
void doctor_check_overlay_userns(struct doctor *d, const char *scratch_parent)
{
    if (!d->root) {
        d->overlay_userns_ok = d->overlay_errno == 0;
        if (d->overlay_userns_ok)
            doctor_check_add(d, "overlayfs_userns", "pass", "",
                             "in a user namespace: overlay with userxattr mounts in %s, a file is created and a "
                             "lower file removed through it",
                             scratch_parent);
        else
            doctor_check_add(d, "overlayfs_userns", "fail", doctor_overlay_hint(d, d->overlay_errno, d->overlay_step),
                             "in a user namespace, in %s: %s: %s", scratch_parent, d->overlay_step,
                             strerror(d->overlay_errno));
        return;
    }
    const char *tmp = doctor_scratch_tmp();
    const char *step = "";
    int e = host_probe_overlay_userns(tmp, HOST_PROBE_NOBODY, HOST_PROBE_NOBODY, &step);
    d->overlay_userns_ok = e == 0;
    if (e == 0)
        doctor_check_add(d, "overlayfs_userns", "pass", "",
                         "as uid %d in a user namespace: overlay with userxattr mounts in %s, a file is created and a "
                         "lower file removed through it",
                         HOST_PROBE_NOBODY, tmp);
    else
        doctor_check_add(d, "overlayfs_userns", "warn", doctor_overlay_hint(d, e, step),
                         "as uid %d in a user namespace, in %s: %s: %s", HOST_PROBE_NOBODY, tmp, step, strerror(e));
}

/* Whether the user pyro runs for may open /dev/net/tun (pasta's tap): as
 * root, whether ordinary users may (stock Debian's udev makes it 0666). */
static bool tun_usable(const struct doctor *d, char *text, size_t size)
{
    struct stat st;
    if (stat("/dev/net/tun", &st) < 0) {
        snprintf(text, size, "/dev/net/tun: %s", strerror(errno));
        return false;
    }
    bool ok = d->root ? (st.st_mode & 0006) == 0006 : access("/dev/net/tun", R_OK | W_OK) == 0;
    snprintf(text, size, "/dev/net/tun mode %04o%s", (unsigned)(st.st_mode & 07777),
             ok        ? ""
             : d->root ? ", not open to ordinary users"
                       : ", not open to this user");
    return ok;
}

void doctor_check_user_network(struct doctor *d)
{
    struct usernet_tool t[USERNET_COUNT];
    usernet_probe(t);
    char text[USERNET_COUNT][400], tun[96];
    for (int i = 0; i < USERNET_COUNT; i++) {
        if (!t[i].path[0])
            snprintf(text[i], sizeof(text[i]), "%s not found on PATH", t[i].name);
        else if (!t[i].runs)
            snprintf(text[i], sizeof(text[i]), "%s: %s --version failed", t[i].name, t[i].path);
        else
            snprintf(text[i], sizeof(text[i]), "%s: %s (%s)", t[i].name, t[i].path, t[i].version);
    }
    /* pyro's rootless egress is pasta's (src/backend/usernet.c) */
    bool pasta = t[USERNET_PASTA].runs, tun_ok = tun_usable(d, tun, sizeof(tun));
    d->usernet_ok = pasta && tun_ok;
    if (d->usernet_ok)
        doctor_check_add(d, "user_network", "pass", "", "rootless egress uses pasta; %s; %s", text[USERNET_PASTA], tun);
    else
        doctor_check_add(d, "user_network", missing_status(d),
                         !pasta ? "apt-get install passt"
                                : "chmod 0666 /dev/net/tun (the mode stock Debian's udev gives it)",
                         "rootless sandboxes with network need pasta and /dev/net/tun%s; %s; %s; %s",
                         d->root ? " (root uses veth and NAT)" : "", text[USERNET_PASTA], tun,
                         text[USERNET_SLIRP4NETNS]);
}

/* The limits an ordinary user's sandbox would not be held to, by name. */
static void lost_list(const enum limit_by by[CGROUP_CTL_COUNT], char *buf, size_t size)
{
    unsigned lost = 0;
    for (int i = 0; i < CGROUP_CTL_COUNT; i++)
        if (!limit_by_enforced(by[i]))
            lost |= cgroup_ctl_bit(i);
    cgroups_ctl_list(lost, ", ", buf, size);
}

void doctor_check_cgroup_delegation(struct doctor *d)
{
    struct cgroups_user *g = &d->delegation;
    cgroup_delegation_probe(&d->cgroup, d->root, g);
    const char *layout = cgroup_layout_name(d->cgroup.layout);
    char ctls[64], lost[64];
    if (!cgroups_ctl_list(g->ctl, " ", ctls, sizeof(ctls)))
        snprintf(ctls, sizeof(ctls), "none of memory, pids, cpu");
    if (d->root) {
        /* What an ordinary user's sandbox can get: what the cgroup2 root
         * offers for systemd to delegate. */
        enum limit_by by[CGROUP_CTL_COUNT];
        struct cgroups_user offered = *g;
        snprintf(offered.base, sizeof(offered.base), "%s", d->cgroup.v2_mount);
        sandbox_limits_decide(false, &d->cgroup, &offered, by);
        lost_list(by, lost, sizeof(lost));
        if (!d->cgroup.v2_mount[0])
            doctor_check_add(d, "cgroup_delegation", "warn",
                             "mount cgroup2 with the unified hierarchy (Debian 12's default); meanwhile ordinary "
                             "users' sandboxes get enforced limits from the VM backend",
                             "no cgroup2 hierarchy is mounted (cgroups are %s): rootless sandboxes cannot enforce the "
                             "%s limits; RLIMIT_NPROC (per uid) stands in for pids",
                             layout, lost);
        else if (lost[0])
            doctor_check_add(d, "cgroup_delegation", "warn",
                             "boot the host with the unified cgroup hierarchy (kernel option "
                             "systemd.unified_cgroup_hierarchy=1, Debian 12's default); meanwhile ordinary users' "
                             "sandboxes get enforced limits from the VM backend (QEMU holds a VM to its memory and "
                             "vCPUs)",
                             "cgroups are %s; the cgroup2 root %s offers %s to delegate to users: rootless sandboxes "
                             "cannot enforce the %s limits; RLIMIT_NPROC (per uid) stands in for pids",
                             layout, d->cgroup.v2_mount, ctls, lost);
        else
            doctor_check_add(d, "cgroup_delegation", "pass", "",
                             "cgroups are %s; the cgroup2 root %s offers %s to delegate to users: a user's sandboxes "
                             "enforce memory, pids and cpu when pyro runs in a cgroup delegated to the user "
                             "(user@UID.service, or `systemd-run --user --scope -p Delegate=yes`)",
                             layout, d->cgroup.v2_mount, ctls);
        return;
    }
    enum limit_by by[CGROUP_CTL_COUNT];
    sandbox_limits_decide(false, &d->cgroup, g, by);
    lost_list(by, lost, sizeof(lost));
    if (!lost[0]) {
        doctor_check_add(d, "cgroup_delegation", "pass", "",
                         "cgroups are %s; %s is delegated to uid %u (controllers: %s): rootless sandboxes enforce "
                         "memory, pids and cpu in %s/<parent>/<id>",
                         layout, g->base, (unsigned)geteuid(), ctls, g->base);
        return;
    }
    doctor_check_add(d, "cgroup_delegation", "warn", g->fix,
                     "cgroups are %s; %s: rootless sandboxes cannot enforce the %s limits%s", layout, g->why, lost,
                     by[CGROUP_CTL_PIDS] == LIMIT_RLIMIT_NPROC ? "; RLIMIT_NPROC (per uid) stands in for pids" : "");
}

static bool process_has_group(gid_t gid)
{
    if (getegid() == gid)
        return true;
    gid_t groups[256];
    int n = getgroups(ARRAY_SIZE(groups), groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return true;
    return false;
}

void doctor_check_kvm_group(struct doctor *d)
{
    struct passwd *pw;
    const char *user = fix_user(d, &pw);
    struct stat st;
    bool device = stat("/dev/kvm", &st) == 0 && S_ISCHR(st.st_mode);
    if (!device) {
        doctor_check_add(d, "kvm_group", "warn", "enable virtualization and load kvm_intel or kvm_amd",
                         "/dev/kvm does not exist: VMs use TCG, which needs no group");
        return;
    }
    struct group *gr = getgrgid(st.st_gid);
    char group[64], mode[96];
    snprintf(group, sizeof(group), "%s", gr ? gr->gr_name : "kvm");
    snprintf(mode, sizeof(mode), "/dev/kvm is mode %04o, group %s (gid %u)", (unsigned)(st.st_mode & 07777), group,
             (unsigned)st.st_gid);
    bool group_rw = (st.st_mode & 060) == 060;
    if (d->root) {
        bool member = pw && group_has_user(st.st_gid, pw->pw_name, pw->pw_gid);
        if (!group_rw && (st.st_mode & 06) != 06)
            doctor_check_add(d, "kvm_group", "warn", "chmod 0660 /dev/kvm (udev: KERNEL==\"kvm\", MODE=\"0660\")",
                             "%s: only root can use KVM", mode);
        else if (pw && !member && (st.st_mode & 06) != 06)
            doctor_check_add(d, "kvm_group", "warn", "", "%s; %s is not in group %s: its VMs would use TCG", mode, user,
                             group);
        else
            doctor_check_add(d, "kvm_group", "pass", "", "%s: members of %s can use KVM without root", mode, group);
        return;
    }
    bool opens = d->kvm.device && d->kvm.open_errno == 0;
    bool member_db = pw && group_has_user(st.st_gid, pw->pw_name, pw->pw_gid);
    char hint[160];
    switch (kvm_access_decide(device, opens, member_db, process_has_group(st.st_gid))) {
    case KVM_ACCESS_OK:
        doctor_check_add(d, "kvm_group", "pass", "", "%s; it opens read-write for %s", mode, user);
        break;
    case KVM_ACCESS_RELOGIN:
        snprintf(hint, sizeof(hint), "log out and in again (or run newgrp %s) so the session has the group", group);
        doctor_check_add(d, "kvm_group", "warn", hint, "%s; %s is in group %s but this session is not yet", mode, user,
                         group);
        break;
    case KVM_ACCESS_NO_GROUP:
    case KVM_ACCESS_NO_DEVICE:
    default:
        snprintf(hint, sizeof(hint), "as root: usermod -aG %s %s, then log in again", group, user);
        doctor_check_add(d, "kvm_group", "warn", hint, "%s; %s cannot open it (%s): VMs use TCG", mode, user,
                         strerror(d->kvm.open_errno ? d->kvm.open_errno : EACCES));
        break;
    }
}

/* The first base at or above from whose range overlaps nothing. */
static unsigned long pool_free_base(unsigned long from)
{
    unsigned long base = from;
    for (int tries = 0; tries < 64 && base <= UINT32_MAX - 1 - IDMAP_COUNT; tries++) {
        unsigned long next;
        if (subid_pool_overlaps(base, IDMAP_COUNT, SUBUID_FILE, SUBGID_FILE, NULL, NULL, NULL, 0, &next) == 0)
            return base;
        base = next;
    }
    return 0;
}

void doctor_check_id_pool(struct doctor *d)
{
    if (!d->root) {
        doctor_check_add(d, "id_pool", "pass", "",
                         "not used: as uid %u pyro maps sandboxes to the user's subordinate ids", (unsigned)geteuid());
        return;
    }
    struct idmap m;
    pyro_error err = {0};
    if (idmap_resolve(&m, &err) < 0) {
        doctor_check_add(d, "id_pool", "fail", "unset PYRO_IDMAP_BASE or give it a valid number", "%s", err.message);
        return;
    }
    const char *from = getenv("PYRO_IDMAP_BASE") && getenv("PYRO_IDMAP_BASE")[0] ? "PYRO_IDMAP_BASE" : "default";
    unsigned long base = m.uid_base, end = base + m.count - 1;
    char over[4][SUBID_OVERLAP_TEXT];
    unsigned long next;
    size_t n = subid_pool_overlaps(base, m.count, SUBUID_FILE, SUBGID_FILE, NULL, NULL, over, ARRAY_SIZE(over), &next);
    if (n == 0) {
        doctor_check_add(d, "id_pool", "pass", "",
                         "sandbox ids 0-%u map to host ids %lu-%lu (%s), which no user, group, %s or %s range uses",
                         m.count - 1, base, end, from, SUBUID_FILE, SUBGID_FILE);
        return;
    }
    char list[4 * SUBID_OVERLAP_TEXT + 32] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && i < ARRAY_SIZE(over); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", over[i]);
    if (n > ARRAY_SIZE(over))
        snprintf(list + used, sizeof(list) - used, " (+%zu more)", n - ARRAY_SIZE(over));
    char hint[96];
    unsigned long free_base = pool_free_base(next);
    if (free_base)
        snprintf(hint, sizeof(hint), "set PYRO_IDMAP_BASE=%lu (a free range of %u ids)", free_base, m.count);
    else
        snprintf(hint, sizeof(hint), "set PYRO_IDMAP_BASE to the start of a free range of %u ids", m.count);
    doctor_check_add(d, "id_pool", "fail", hint,
                     "the pool %lu-%lu (%s) overlaps %s: a sandbox's ids would be those of another user", base, end,
                     from, list);
}

static const char *limit_text(enum limit_by b)
{
    switch (b) {
    case LIMIT_CGROUP_V1: return "cgroup v1";
    case LIMIT_CGROUP_V2: return "cgroup v2";
    case LIMIT_RLIMIT_NPROC: return "not enforced (RLIMIT_NPROC stands in)";
    case LIMIT_NONE:
    default: return "not enforced";
    }
}

json_t *doctor_rootless_summary(const struct doctor *d)
{
    const struct {
        bool ok;
        const char *name;
    } need[] = {{d->userns_unpriv_ok, "user_namespaces"},
                {d->subids_ok, "subordinate_ids"},
                {d->uidmap_ok, "uidmap"},
                {d->overlay_userns_ok, "overlayfs_userns"},
                {d->usernet_ok, "user_network"}};
    json_t *missing = json_array();
    char summary[200];
    int n = snprintf(summary, sizeof(summary), "not ready (missing:");
    for (size_t i = 0; i < ARRAY_SIZE(need); i++)
        if (!need[i].ok) {
            json_array_append_new(missing, json_string(need[i].name));
            n += snprintf(summary + n, sizeof(summary) - (size_t)n, "%s %s", json_array_size(missing) > 1 ? "," : "",
                          need[i].name);
        }
    bool ready = json_array_size(missing) == 0;
    if (ready)
        snprintf(summary, sizeof(summary), "ready");
    else
        snprintf(summary + n, sizeof(summary) - (size_t)n, ")");
    return json_pack("{s:b, s:o, s:s}", "ready", ready, "missing", missing, "summary", summary);
}

json_t *doctor_sandbox_limits(const struct doctor *d)
{
    enum limit_by by[CGROUP_CTL_COUNT];
    sandbox_limits_decide(d->root, &d->cgroup, &d->delegation, by);
    json_t *res = json_pack("{s:I}", "uid", (json_int_t)geteuid());
    char summary[160];
    size_t used = 0;
    for (int i = 0; i < CGROUP_CTL_COUNT; i++) {
        const char *name = d->cgroup.ctl[i].name;
        json_set(res, name, json_pack("{s:b, s:s}", "enforced", limit_by_enforced(by[i]), "by", limit_by_name(by[i])));
        used += (size_t)snprintf(summary + used, sizeof(summary) - used, "%s%s %s", i ? ", " : "", name,
                                 limit_text(by[i]));
    }
    json_set(res, "summary", json_string(summary));
    return res;
}
