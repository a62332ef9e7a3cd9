/* What holds QEMU from the host's side: its own cgroup (memory with swap
 * off, CPU quota, tasks), and with network the veth pair, NAT and egress
 * guard of the network namespace its user-mode network runs in. The
 * pieces are the sandbox backend's (backend/cgroups.c, netguard.c); this
 * file only sizes them for a QEMU and hands the child its "go".
 *
 * Order in vm_start: vm.json (the cgroup parent, network) -> prepare
 * (cgroup with limits, resolv.conf, /30 + guard + NAT rules) -> clone3 ->
 * attach (cgroup.procs, veth into the child's namespace, "g") -> the
 * child sets up eth0 and execs QEMU. Until "g" the child only waits, so
 * QEMU never runs outside its cgroup or before its guard.
 *
 * As an ordinary user: vm.json -> prepare (resolv.conf) -> clone3 with a
 * user namespace -> attach (QEMU's id maps, pasta recorded in vm.json,
 * the guard in QEMU's network namespace, "g"). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/vm/internal.h"
#include "base/cleanup.h"
#include "base/idmap.h"
#include "base/log.h"

const char *vm_cgroup_parent(const struct backend_config *cfg)
{
    return cfg->cgroup_parent ? cfg->cgroup_parent : "pyro";
}

struct cgroups_limits vm_jail_limits(const struct backend_config *cfg)
{
    int vcpus = cfg->vcpu_count > 0 ? cfg->vcpu_count : 1;
    return (struct cgroups_limits){
        .vcpu_count = vcpus,
        .mem_mib = cfg->mem_mib + VM_QEMU_OVERHEAD_MIB,
        .pids_max = VM_QEMU_TASKS + vcpus,
        .parent_mem_mib = cfg->cgroup_parent_mem_mib,
        .allow_kvm = cfg->vm_accel && !strcmp(cfg->vm_accel, "kvm"),
    };
}

void vm_jail_init(struct vm_jail *j)
{
    *j = (struct vm_jail){.net = {.lock_fd = -1}, .go = {-1, -1}};
}

/* An ordinary user's jail: a cgroup where one is delegated to the user
 * (recorded in vm.json before it exists; a cgroup that cannot be made is
 * dropped whole, and the result says why), and with network pasta's
 * addresses; pasta itself starts once the child exists. */
static int prepare_user(const struct backend_config *cfg, struct vm_state *st, struct vm_jail *j, pyro_error *err)
{
    j->rootless = true;
    j->network = cfg->network;
    j->allow_host = cfg->network_allow_host;
    int r = cgroups_plan_caller(true, vm_cgroup_parent(cfg), cfg->id, &j->cg, &j->cgu, err);
    if (r < 0)
        return err_prefix(err, "QEMU's cgroup");
    if (j->cg.base) {
        free(st->cgroup);
        st->cgroup = xstrdup(j->cg.paths[0]);
        if ((r = vm_state_save(cfg->dir, st, err)) < 0)
            return r;
    }
    struct cgroups_limits lim = vm_jail_limits(cfg);
    cgroups_create_user(&j->cg, &lim, &j->cgu);
    if (!cfg->network)
        return 0;
    r = netguard_resolv(cfg->dir, err);
    if (r < 0)
        return r;
    j->resolv = r == 1 ? xasprintf("%s/resolv.conf", cfg->dir) : xstrdup("/dev/null");
    inet_pton(AF_INET, USERNET_GUEST, &j->net.guest_addr);
    inet_pton(AF_INET, USERNET_GATEWAY, &j->net.host_addr);
    return 0;
}

static int prepare_root(const struct backend_config *cfg, struct vm_jail *j, pyro_error *err)
{
    if (!cfg->idmap)
        return err_set(err, -PYRO_E_INVALID, "no id range to place QEMU's uid after");
    j->qemu_uid = cfg->idmap->uid_base + VM_QEMU_ID_OFFSET;
    j->qemu_gid = cfg->idmap->gid_base + VM_QEMU_ID_OFFSET;
    struct stat kst;
    if (cfg->vm_accel && !strcmp(cfg->vm_accel, "kvm")) {
        if (stat("/dev/kvm", &kst) < 0)
            return err_errno(err, errno, "stat /dev/kvm");
        j->kvm = true;
        j->kvm_gid = kst.st_gid;
    }
    int r = cgroups_plan(vm_cgroup_parent(cfg), cfg->id, &j->cg, err);
    if (r < 0)
        return err_prefix(err, "QEMU's cgroup");
    struct cgroups_limits lim = vm_jail_limits(cfg);
    if ((r = cgroups_create(&j->cg, &lim, err)) < 0)
        return err_prefix(err, "QEMU's cgroup");
    j->network = cfg->network;
    if (cfg->network) {
        /* slirp forwards the guest's DNS (10.0.2.3) to the resolvers of
         * /etc/resolv.conf as QEMU sees it: the host's non-loopback ones,
         * bound over it in QEMU's mount namespace (a loopback resolver
         * would be the namespace's own, where nothing answers). */
        if ((r = netguard_resolv(cfg->dir, err)) < 0)
            return r;
        j->resolv = r == 1 ? xasprintf("%s/resolv.conf", cfg->dir) : xstrdup("/dev/null");
        if ((r = netguard_prepare(cfg->id, cfg->network_allow_host, cfg->network_allow_hosts, &j->net, err)) < 0)
            return r;
        /* With an allow-list slirp's DNS goes to the instance's filter. */
        if (cfg->network_allow_hosts) {
            if ((r = netguard_resolv_filter(cfg->dir, &j->net, err)) < 0)
                return r;
            free(j->resolv);
            j->resolv = xasprintf("%s/resolv.conf", cfg->dir);
        }
    }
    return 0;
}

int vm_jail_prepare(const struct backend_config *cfg, struct vm_state *st, struct vm_jail *j, pyro_error *err)
{
    int r;
    if (cfg->idmap && cfg->idmap->rootless)
        r = prepare_user(cfg, st, j, err);
    else
        r = prepare_root(cfg, j, err);
    if (r < 0)
        return r;
    if (pipe2(j->go, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    return 0;
}

/* usernet's record: pasta's pid into vm.json, for destroy. */
struct pasta_rec {
    const char *dir;
    struct vm_state *st;
};

static int pasta_record(void *arg, pid_t pid, int64_t start, pyro_error *err)
{
    struct pasta_rec *pr = arg;
    pr->st->pasta_pid = pid;
    pr->st->pasta_start = start;
    return vm_state_save(pr->dir, pr->st, err);
}

/* As a user: QEMU is the user in its namespace, in its cgroup when one was
 * made; its network is pasta's. What no cgroup holds the result lists as
 * not enforced on the host, with why (the guest still gets only its vCPUs
 * and memory: docs/rootless.md). */
static int attach_user(struct vm_jail *j, const char *dir, struct vm_state *st, pid_t pid, struct backend_instance *out,
                       pyro_error *err)
{
    int r = idmap_write_self(pid, err);
    if (r < 0)
        return err_prefix(err, "map QEMU's user namespace");
    if (j->cg.version && (r = cgroups_attach(&j->cg, pid, err)) < 0)
        return err_prefix(err, "move QEMU into its cgroup");
    struct pasta_rec rec = {dir, st};
    if (j->network && (r = usernet_attach(dir, pid, j->allow_host, pasta_record, &rec, err)) < 0)
        return r;
    out->limits_unenforced |= cgroups_user_lost(&j->cg, &j->cgu, out->limits_reason, sizeof(out->limits_reason));
    out->cgroup_version = j->cg.version;
    return 0;
}

int vm_jail_attach(struct vm_jail *j, const char *dir, struct vm_state *st, pid_t pid, struct backend_instance *out,
                   pyro_error *err)
{
    close(TAKE_FD(j->go[0]));
    if (j->rootless) {
        int r = attach_user(j, dir, st, pid, out, err);
        if (r < 0)
            return r;
        if (write(j->go[1], "g", 1) != 1)
            return err_errno(err, errno, "start QEMU");
        close(TAKE_FD(j->go[1]));
        log_debug("vm: QEMU %d as uid %u, cgroup %s%s", (int)pid, (unsigned)getuid(),
                  j->cg.count ? j->cg.paths[0] : "none", j->network ? ", network through pasta" : "");
        return 0;
    }
    int r = cgroups_attach(&j->cg, pid, err);
    if (r < 0)
        return err_prefix(err, "move QEMU into its cgroup");
    if (j->network && (r = netguard_attach(&j->net, pid, err)) < 0)
        return err_prefix(err, "QEMU's network namespace");
    if (write(j->go[1], "g", 1) != 1)
        return err_errno(err, errno, "start QEMU");
    close(TAKE_FD(j->go[1]));
    out->cgroup_version = j->cg.version;
    if (j->network)
        memcpy(out->host_ifname, j->net.ifname, sizeof(out->host_ifname));
    log_debug("vm: QEMU %d in cgroup %s (v%d)%s%s", (int)pid, j->cg.count ? j->cg.paths[0] : "?", j->cg.version,
              j->network ? ", network through " : "", j->network ? j->net.ifname : "");
    return 0;
}

void vm_jail_release(struct vm_jail *j)
{
    cgroups_free(&j->cg);
    int fds[] = {j->go[0], j->go[1], j->net.lock_fd};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(j->resolv);
    vm_jail_init(j);
}

int vm_jail_remove(const struct vm_state *st, pyro_error *err)
{
    /* A user's QEMU has no cgroup or veth; its pasta holds QEMU's
     * namespaces open. */
    if (st->rootless) {
        usernet_stop(st->pasta_pid, st->pasta_start);
        if (!st->cgroup)
            return 0;
        struct cgroups cg;
        int r = cgroups_plan_recorded(st->cgroup, st->cgroup_parent ? st->cgroup_parent : "pyro", st->id, &cg, err);
        if (r == 0) {
            r = cgroups_remove(&cg, err);
            cgroups_free(&cg);
        }
        return r;
    }
    const char *parent = st->cgroup_parent ? st->cgroup_parent : "pyro", *id = st->id;
    bool network = st->network;
    struct cgroups cg;
    pyro_error e2 = {0};
    int first = 0;
    /* A host without usable cgroups cannot have started QEMU. */
    if (cgroups_plan(parent, id, &cg, &e2) == 0) {
        first = cgroups_remove(&cg, err);
        cgroups_free(&cg);
    }
    /* The link is found from the id; the (slow) nft listing only when the
     * state says there was a network. */
    int r = netguard_teardown(id, network, first < 0 ? &e2 : err);
    return first < 0 ? first : r;
}
