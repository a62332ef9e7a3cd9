/* The per-instance monitor: set-up, the event loop, teardown. The pieces
 * are in monitor_impl.h. */
#include "backend/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/monitor_impl.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/timeutil.h"

static int before_sleep(struct ae_loop *loop, void *data)
{
    /* Clients marked dead by a write elsewhere in the last round. */
    monitor_clients_sweep(data);
    return -1;
}

static int start_instance(struct monitor *m, pyro_error *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return err_errno(err, errno, "socketpair");
    m->agent_fd = sv[0];
    _cleanup_close_ int guest_end = sv[1];
    _cleanup_free_ char *bdir = xasprintf("%s/sandbox", m->cfg->dir);
    /* init's stdout and stderr: a pipe the monitor drains into
     * console.log, never the file itself (monitor_console.c). */
    _cleanup_close_ int console_fd = -1;
    int r = monitor_console_open(m, &console_fd, err);
    if (r < 0)
        return r;
    static char *const init_argv[] = {"/.pyro/agent", "--channel-fd", "3", "--init", NULL};
    struct backend_config bc = {
        .id = m->cfg->id,
        .init_argv = init_argv,
        .rootfs = m->cfg->rootfs,
        .dir = bdir,
        .upper_dir = m->cfg->upper_dir,
        .init_path = m->cfg->agent_path,
        .channel_fd = guest_end,
        .stdio_fd = console_fd,
        .vcpu_count = m->cfg->vcpu_count,
        .mem_mib = m->cfg->mem_mib,
        .disk_mib = m->cfg->disk_mib,
        .pids_max = m->cfg->pids_max,
        .cgroup_parent_mem_mib = m->cfg->cgroup_parent_mem_mib,
        .network = m->cfg->network,
        .network_allow_host = m->cfg->network_allow_host,
        .network_allow_hosts = m->cfg->network_allow_hosts,
        .idmap = m->cfg->idmap,
        .vm_kernel = m->cfg->vm_kernel,
        .vm_initrd = m->cfg->vm_initrd,
        .vm_root_image = m->cfg->vm_root_image,
        .vm_accel = m->cfg->vm_accel,
        .vm_template_dir = m->cfg->vm_template_dir,
    };
    int64_t t0 = time_mono_ns();
    r = m->ops->start(&bc, &m->inst, err);
    /* Only init holds the write end now: EOF when the instance is gone. */
    close(TAKE_FD(console_fd));
    if (r < 0)
        return r;
    m->inst_started = true;
    m->started_ms = time_wall_ms();
    int64_t t1 = time_mono_ns();
    r = monitor_agent_handshake(m, err);
    log_debug("monitor %s: backend start %.1f ms, agent hello %.1f ms", m->cfg->id, (t1 - t0) / 1e6,
              (time_mono_ns() - t1) / 1e6);
    if (r < 0) {
        /* What init (or a VM's QEMU and kernel) said last names the cause;
         * console.log itself may be gone with the instance. */
        monitor_console_drain(m);
        char tail[MONITOR_CONSOLE_TAIL + 16];
        monitor_console_tail(m, tail, sizeof(tail));
        size_t len = strlen(err->message);
        if (tail[0] && len + 32 < sizeof(err->message))
            snprintf(err->message + len, sizeof(err->message) - len, "; console: %s", tail);
        return r;
    }
    if (fcntl(m->agent_fd, F_SETFL, O_NONBLOCK) < 0)
        return err_errno(err, errno, "fcntl");
    return 0;
}

/* The loop's file events: control.sock, the agent channel, PID 1's pidfd,
 * the TTL (a wall-clock timerfd: the instance expires at its expires_at
 * even across clock changes), SIGTERM, SIGINT, SIGHUP and init's console
 * pipe. */
static int watch_events(struct monitor *m, pyro_error *err)
{
    m->loop = ae_new(err);
    if (!m->loop)
        return err->code;
    m->ttl_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGHUP);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    m->sig_fd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
    if (m->ttl_fd < 0 || m->sig_fd < 0)
        return err_errno(err, errno, "event loop set-up");
    int64_t exp = m->cfg->expires_at_ms;
    struct itimerspec its = {.it_value = {exp / 1000, (exp % 1000) * 1000000L}};
    if (timerfd_settime(m->ttl_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        return err_errno(err, errno, "timerfd");
    int r;
    if ((r = ae_file_add(m->loop, m->listen_fd, AE_READABLE, monitor_on_accept, m, err)) < 0 ||
        (r = ae_file_add(m->loop, m->agent_fd, AE_READABLE, monitor_agent_readable, m, err)) < 0 ||
        (r = ae_file_add(m->loop, m->inst.pidfd, AE_READABLE, monitor_on_exit, m, err)) < 0 ||
        (r = ae_file_add(m->loop, m->ttl_fd, AE_READABLE, monitor_on_ttl, m, err)) < 0 ||
        (r = ae_file_add(m->loop, m->sig_fd, AE_READABLE, monitor_on_signal, m, err)) < 0)
        return r;
    if (m->console_rd >= 0 &&
        (r = ae_file_add(m->loop, m->console_rd, AE_READABLE, monitor_console_readable, m, err)) < 0)
        return r;
    ae_set_before_sleep(m->loop, before_sleep, m);
    return 0;
}

static int monitor_setup(struct monitor *m, pyro_error *err)
{
    int r = start_instance(m, err);
    if (r == 0)
        r = monitor_listen(m, err);
    if (r == 0)
        r = watch_events(m, err);
    return r;
}

static void monitor_teardown(struct monitor *m)
{
    pyro_error err = {0};
    _cleanup_free_ char *bdir = xasprintf("%s/sandbox", m->cfg->dir);
    _cleanup_free_ char *sock = xasprintf("%s/control.sock", m->cfg->dir);
    unlink(sock);
    /* No published port outlives the instance. */
    monitor_ports_close_all(m);
    int64_t t0 = time_mono_ns(), t1 = t0;
    if (m->inst_started) {
        monitor_kill_instance(m);
        /* Reap PID 1 (our child) before destroy looks at the cgroup. */
        while (waitpid(m->inst.pid, NULL, 0) < 0 && errno == EINTR)
            ;
        t1 = time_mono_ns();
    }
    /* What init wrote last (a failed start's reason, too). */
    monitor_console_close(m);
    int r = m->inst_started && m->ops->destroy_instance ? m->ops->destroy_instance(&m->inst, bdir, m->cfg->id, &err)
                                                        : m->ops->destroy(bdir, m->cfg->id, &err);
    if (r < 0)
        log_debug("monitor: destroy: %s", err.message);
    if (m->inst_started)
        m->ops->release(&m->inst);
    log_debug("monitor %s: reaped in %.1f ms, destroyed in %.1f ms", m->cfg->id, (t1 - t0) / 1e6,
              (time_mono_ns() - t1) / 1e6);
}

int monitor_main(const struct monitor_config *cfg, int ready_fd)
{
    struct monitor m = {.cfg = cfg,
                        .listen_fd = -1,
                        .agent_fd = -1,
                        .ttl_fd = -1,
                        .sig_fd = -1,
                        .next_id = 1,
                        .console_rd = -1,
                        .console_fd = -1};
    outq_init(&m.agent_out, MONITOR_AGENT_OUTQ_MAX);
    pyro_error err = {0};
    char line[PYRO_ERROR_MESSAGE_MAX + 64];

    prctl(PR_SET_NAME, "pyro-monitor");
    /* An unknown backend is refused before anything is created. */
    int r = backend_get(cfg->backend, &m.ops, &err);
    if (r == 0) {
        monitor_record(&m, "starting", NULL);
        r = monitor_setup(&m, &err);
        if (r < 0) {
            m.reason = "failed";
            monitor_teardown(&m);
            monitor_record(&m, "exited", err.message);
        }
    }
    if (r < 0) {
        int n = snprintf(line, sizeof(line), "error %d %s\n", err.code, err.message);
        (void)!write(ready_fd, line, (size_t)n);
        close(ready_fd);
        ae_free(m.loop);
        return 1;
    }
    monitor_record(&m, "running", NULL);
    (void)!write(ready_fd, "ok\n", 3);
    close(ready_fd);

    /* Until PID 1 exits (monitor_on_exit stops the loop). */
    if (ae_run(m.loop, &err) < 0)
        log_debug("monitor: %s", err.message);
    monitor_teardown(&m);
    monitor_record(&m, "exited", NULL);
    monitor_answer_stop_waiters(&m);
    ae_free(m.loop);
    return 0;
}
