/* The TTL/exit bookkeeping: monitor.json, stopping the instance (ask the
 * agent to power off, SIGKILL after a grace period), the events that end
 * it (TTL, signals, PID 1's exit) and the answers to monitor_stop. */
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "backend/monitor_impl.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/record.h"
#include "base/timeutil.h"

void monitor_record(struct monitor *m, const char *state, const char *error)
{
    char ts[PYRO_TIME_ISO_LEN];
    json_auto_t *rec = json_object();
    json_set(rec, "schema_version", json_integer(1));
    json_set(rec, "pid", json_integer(getpid()));
    json_set(rec, "start_time", json_integer(proc_start_time(getpid())));
    json_set(rec, "state", json_string(state));
    json_set(rec, "execution_mode", json_string(m->ops->name));
    if (m->inst_started) {
        json_set(rec, "sandbox_pid", json_integer(m->inst.pid));
        json_set(rec, "cgroup_version", json_integer(m->inst.cgroup_version));
        /* Who the instance's root is on the host, and what was not held to
         * its limits (results report both: limits_unenforced). */
        if (m->cfg->idmap) {
            json_set(rec, "rootless", json_boolean(m->cfg->idmap->rootless));
            /* A VM's ids stay in its guest: the range is not used there. */
            if (strcmp(m->ops->name, "vm") != 0) {
                json_set(rec, "uid_base", json_integer(m->cfg->idmap->uid_base));
                json_set(rec, "gid_base", json_integer(m->cfg->idmap->gid_base));
            }
        }
        json_t *unenf = json_array();
        static const struct {
            unsigned bit;
            const char *name;
        } limits[] = {{BACKEND_LIMIT_CPU, "cpu"},
                      {BACKEND_LIMIT_MEMORY, "memory"},
                      {BACKEND_LIMIT_PIDS, "pids"},
                      {BACKEND_LIMIT_DISK, "disk"}};
        for (size_t i = 0; i < ARRAY_SIZE(limits); i++)
            if (m->inst.limits_unenforced & limits[i].bit)
                json_array_append_new(unenf, json_string(limits[i].name));
        json_set(rec, "limits_unenforced", unenf);
        if (m->inst.limits_reason[0])
            json_set(rec, "limits_unenforced_reason", json_string(m->inst.limits_reason));
        if (m->inst.accelerator[0])
            json_set(rec, "accelerator", json_string(m->inst.accelerator));
        if (m->inst.boot[0]) {
            json_set(rec, "vm_boot", json_string(m->inst.boot));
            if (m->inst.boot_reason[0])
                json_set(rec, "vm_boot_reason", json_string(m->inst.boot_reason));
        }
        json_t *net = json_object();
        json_set(net, "enabled", json_boolean(m->inst.network));
        if (m->inst.network) {
            json_set(net, "host_ifname", json_string(m->inst.host_ifname));
            json_set(net, "host_addr", json_string(m->inst.host_addr));
            json_set(net, "guest_addr", json_string(m->inst.guest_addr));
            json_set(net, "prefix_len", json_integer(m->inst.prefix_len));
        }
        json_set(rec, "network", net);
    }
    if (m->started_ms) {
        time_iso(ts, m->started_ms);
        json_set(rec, "started_at", json_string(ts));
    }
    time_iso(ts, m->cfg->expires_at_ms);
    json_set(rec, "expires_at", json_string(ts));
    if (!strcmp(state, "exited")) {
        time_iso(ts, time_wall_ms());
        json_set(rec, "ended_at", json_string(ts));
        json_set(rec, "reason", json_string(m->reason ? m->reason : "unknown"));
    }
    if (error)
        json_set(rec, "error", json_string(error));
    pyro_error err = {0};
    _cleanup_free_ char *path = xasprintf("%s/monitor.json", m->cfg->dir);
    /* monitor.json describes this live process; a reboot ends it anyway, so
     * atomic replacement is enough and fsync is skipped (hot start path). */
    if (record_save_flags(path, rec, PYRO_WRITE_NOSYNC, &err) < 0)
        log_debug("monitor: %s", err.message);
}

void monitor_kill_instance(struct monitor *m)
{
    pyro_error err = {0};
    if (m->inst_started && m->ops->kill(&m->inst, SIGKILL, &err) < 0)
        log_debug("monitor: kill: %s", err.message);
}

static int64_t grace_expired(struct ae_loop *loop, int64_t id, void *data)
{
    monitor_kill_instance(data);
    return AE_NOMORE;
}

void monitor_stop_begin(struct monitor *m, const char *reason)
{
    if (m->stopping)
        return;
    m->stopping = true;
    m->reason = reason;
    monitor_record(m, "stopping", NULL);
    m->stop_ns = time_mono_ns();
    log_debug("monitor %s: stopping (%s)", m->cfg->id, reason);
    /* Ask the agent to power off; SIGKILL after the grace period. */
    struct route *r = monitor_route_new(m, NULL, 0);
    r->is_stop = true;
    json_auto_t *h = proto_header_new(PROTO_REQ, r->agent_id);
    json_set(h, "op", json_string("shutdown"));
    /* Only a kept writable layer needs its data flushed before power-off. */
    json_set(h, "args", json_pack("{s:b}", "flush", m->cfg->upper_dir != NULL));
    (void)monitor_to_agent(m, h, NULL, 0, NULL);
    ae_timer_add(m->loop, MONITOR_STOP_GRACE_MS, grace_expired, m);
}

void monitor_on_ttl(struct ae_loop *loop, int fd, int mask, void *data)
{
    uint64_t ticks;
    (void)!read(fd, &ticks, sizeof(ticks));
    monitor_stop_begin(data, "expired");
}

void monitor_on_signal(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct signalfd_siginfo si;
    (void)!read(fd, &si, sizeof(si));
    monitor_stop_begin(data, "signal");
}

/* PID 1 exited (its pidfd is readable): the loop ends. */
void monitor_on_exit(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct monitor *m = data;
    if (!m->stopping)
        m->reason = "sandbox_exited";
    log_debug("monitor %s: PID 1 exited%s%.1f ms after the stop began", m->cfg->id, m->stopping ? ", " : " (",
              m->stopping ? (time_mono_ns() - m->stop_ns) / 1e6 : 0.0);
    ae_stop(loop);
}

void monitor_answer_stop_waiters(struct monitor *m)
{
    for (int i = 0; i < m->nstop_waiters; i++) {
        struct client *c = m->stop_waiters[i];
        if (!c || c->dead)
            continue;
        json_auto_t *h = proto_header_new(PROTO_RESP, m->stop_waiter_ids[i]);
        json_set(h, "ok", json_true());
        json_set(h, "result", json_pack("{s:s}", "reason", m->reason ? m->reason : "stopped"));
        /* Best effort: the socket gets what it takes now; the process is
         * about to exit, and a client that does not read must not hold it. */
        monitor_to_client(m, c, h, NULL, 0);
    }
}
