/* The service ops (service_start, service_list, service_status,
 * service_logs, service_stop) and each service's life (service.h):
 *
 *   starting --probe ok--> running --leader exits--> exited (0) | failed
 *   starting --leader exits | ready timeout--> failed
 *   starting | running --service_stop--> stopped
 *
 * Leaving starting or running tears the tree down (TERM to every process
 * below the supervisor, KILL after SERVICE_STOP_GRACE_MS); the final state
 * is taken once the supervisor, the last process of the tree, is reaped.
 * A start is answered once the service is ready, or once it failed and is
 * gone; a stop once the service is gone. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/service.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/timeutil.h"
#include "proto/exec.h"

#define TICK_MS 50
#define COMMAND_MAX (64 * 1024)

static const char *const state_names[] = {"starting", "running", "exited", "failed", "stopped"};

struct service *service_find(struct agent *a, const char *name)
{
    for (struct service *s = a->services; s; s = s->next)
        if (!strcmp(s->name, name))
            return s;
    return NULL;
}

static bool active(const struct service *s)
{
    return !s->finished;
}

static json_t *tail_text(const struct service_log *l, int64_t lines, size_t max, bool *cut)
{
    char *buf;
    size_t len;
    service_log_tail(l, lines, max, &buf, &len, cut);
    struct proto_exec_stream st = {0};
    proto_exec_stream_set(&st, buf, len, 0);
    free(buf);
    json_t *v = json_stringn(st.text ? st.text : "", st.len);
    proto_exec_result_clear(&(struct proto_exec_result){.out = st});
    return v;
}

/* The wire record (the host turns ms into seconds). */
json_t *service_record(const struct service *s)
{
    json_t *o = json_object();
    json_set(o, "service_name", json_string(s->name));
    json_set(o, "command", json_string(s->command));
    json_set(o, "cwd", json_string(s->cwd));
    json_set(o, "state", json_string(state_names[s->state]));
    json_set(o, "pid", json_integer(s->leader));
    json_set(o, "started_at_ms", json_integer(s->started_wall));
    if (s->ready_wall)
        json_set(o, "ready_at_ms", json_integer(s->ready_wall));
    if (s->ended_wall)
        json_set(o, "ended_at_ms", json_integer(s->ended_wall));
    if (s->leader_done) {
        int st = s->leader_status;
        json_set(o, "exit_code", json_integer(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st)));
        if (WIFSIGNALED(st))
            json_set(o, "signal", json_integer(WTERMSIG(st)));
    }
    if (s->stop_reason)
        json_set(o, "stop_reason", json_string(s->stop_reason));
    if (s->probe.type != PROBE_NONE) {
        static const char *const keys[] = {"", "path", "address", "url", "command"};
        json_t *r = json_object();
        json_set(r, "type", json_string(service_probe_name(s->probe.type)));
        json_set(r, keys[s->probe.type], json_string(s->probe.target));
        json_set(o, "readiness", r);
    }
    json_set(o, "ready_timeout_ms", json_integer(s->ready_timeout_ms));
    json_set(o, "ready_interval_ms", json_integer(s->interval_ms));
    json_set(o, "logs_dir", json_string(s->dir));
    if (s->state == ST_EXITED || s->state == ST_FAILED) {
        bool cut;
        json_set(o, "stdout_tail", tail_text(&s->out, SERVICE_TAIL_LINES, SERVICE_TAIL_MAX, &cut));
        json_set(o, "stderr_tail", tail_text(&s->err, SERVICE_TAIL_LINES, SERVICE_TAIL_MAX, &cut));
    }
    return o;
}

json_t *service_list_result(struct agent *a, const char *only)
{
    json_t *arr = json_array();
    int64_t running = 0;
    for (struct service *s = a->services; s; s = s->next) {
        if (only && strcmp(s->name, only))
            continue;
        json_array_append_new(arr, service_record(s));
        running += s->state == ST_RUNNING || s->state == ST_STARTING;
    }
    return json_pack("{s:I, s:I, s:o}", "count", (json_int_t)json_array_size(arr), "running_count", (json_int_t)running,
                     "services", arr);
}

void service_free(struct service *s)
{
    struct agent *a = s->agent;
    if (s->status_fd >= 0) {
        ae_file_del(a->loop, s->status_fd, AE_READABLE);
        close(s->status_fd);
    }
    if (s->out.pipe_fd >= 0)
        ae_file_del(a->loop, s->out.pipe_fd, AE_READABLE);
    if (s->err.pipe_fd >= 0)
        ae_file_del(a->loop, s->err.pipe_fd, AE_READABLE);
    service_log_free(&s->out);
    service_log_free(&s->err);
    service_probe_clear(&s->probe);
    free(s->name);
    free(s->command);
    free(s->cwd);
    free(s->dir);
    free(s);
}

void service_unlink(struct agent *a, struct service *s)
{
    for (struct service **pp = &a->services; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            return;
        }
}

/* ---- the loop's events ------------------------------------------------ */

static int64_t tick(struct ae_loop *loop, int64_t id, void *data);

void service_kick(struct agent *a)
{
    if (!a->service_timer)
        a->service_timer = ae_timer_add(a->loop, TICK_MS, tick, a);
}

static void log_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct service_log *l = data;
    if (!service_log_pump(l)) {
        ae_file_del(loop, fd, AE_READABLE);
        service_log_close_pipe(l);
    }
}

static void read_status(struct service *s)
{
    int32_t st;
    ssize_t n;
    while ((n = read(s->status_fd, &st, sizeof(st))) == (ssize_t)sizeof(st)) {
        s->leader_done = true;
        s->leader_status = st;
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        ae_file_del(s->agent->loop, s->status_fd, AE_READABLE);
        close(s->status_fd);
        s->status_fd = -1;
    }
}

static void status_readable(struct ae_loop *loop, int fd, int mask, void *data)
{
    struct service *s = data;
    read_status(s);
    service_kick(s->agent);
}

void service_teardown(struct service *s, enum svc_state final, const char *reason)
{
    int64_t now = time_mono_ms();
    s->final = final;
    if (!s->stop_reason)
        s->stop_reason = reason;
    if (!s->ended_wall)
        s->ended_wall = time_wall_ms();
    s->killing = true;
    s->kill_at = now + SERVICE_STOP_GRACE_MS;
    if (s->probe_pid > 0) {
        (void)kill(-s->probe_pid, SIGKILL);
        (void)kill(s->probe_pid, SIGKILL);
    }
    if (!s->sup_done)
        (void)service_signal_tree(s->sup, SIGTERM);
    service_kick(s->agent);
}

void service_answer_waits(struct agent *a)
{
    for (struct service_wait **pp = &a->service_waits; *pp;) {
        struct service_wait *w = *pp;
        bool done = true;
        for (struct service *s = a->services; s; s = s->next)
            if ((!w->name || !strcmp(w->name, s->name)) && active(s))
                done = false;
        if (!done) {
            pp = &w->next;
            continue;
        }
        agent_reply_ok(a, w->id, service_list_result(a, w->name), NULL, 0);
        *pp = w->next;
        free(w->name);
        free(w);
    }
}

/* The tree is gone: take the final state and answer whoever waits. */
static void finish(struct service *s)
{
    struct agent *a = s->agent;
    if (s->status_fd >= 0)
        read_status(s);
    for (struct service_log *l = &s->out; l; l = l == &s->out ? &s->err : NULL) {
        if (l->pipe_fd < 0)
            continue;
        (void)service_log_pump(l);
        ae_file_del(a->loop, l->pipe_fd, AE_READABLE);
        service_log_close_pipe(l);
    }
    s->state = s->final;
    s->finished = true;
    if (s->start_req) {
        agent_reply_ok(a, s->start_req, service_record(s), NULL, 0);
        s->start_req = 0;
    }
    service_answer_waits(a);
}

static void probe_start(struct service *s, int64_t now)
{
    int64_t budget = s->interval_ms > SERVICE_PROBE_MIN_MS ? s->interval_ms : SERVICE_PROBE_MIN_MS;
    if (now + budget > s->ready_deadline)
        budget = s->ready_deadline - now;
    s->next_probe = now + s->interval_ms;
    if (s->probe.type == PROBE_FILE) {
        struct stat st;
        if (stat(s->probe.target, &st) == 0) {
            s->state = ST_RUNNING;
            s->ready_wall = time_wall_ms();
        }
        return;
    }
    pid_t p = service_probe_spawn(&s->probe, s->cwd, (int)budget);
    if (p > 0) {
        s->probe_pid = p;
        s->probe_deadline = now + budget;
    }
}

/* One service's step; true while it needs the timer. */
static bool step(struct service *s, int64_t now)
{
    if (s->finished)
        return false;
    if (!s->killing) {
        if (s->leader_done || s->sup_done) {
            int st = s->leader_status;
            bool clean = s->leader_done && WIFEXITED(st) && WEXITSTATUS(st) == 0;
            service_teardown(s, clean && s->state == ST_RUNNING ? ST_EXITED : ST_FAILED, "exited");
        } else if (s->state == ST_STARTING) {
            if (now >= s->ready_deadline)
                service_teardown(s, ST_FAILED, "ready_timeout");
            else if (s->probe_pid > 0 && now >= s->probe_deadline) {
                (void)kill(-s->probe_pid, SIGKILL);
                (void)kill(s->probe_pid, SIGKILL);
            } else if (s->probe_pid <= 0 && now >= s->next_probe)
                probe_start(s, now);
        }
        if (s->state == ST_RUNNING && s->start_req) {
            agent_reply_ok(s->agent, s->start_req, service_record(s), NULL, 0);
            s->start_req = 0;
        }
        return s->state == ST_STARTING || s->killing;
    }
    if (!s->sup_done) {
        if (!s->killed && now >= s->kill_at) {
            (void)service_signal_tree(s->sup, SIGKILL);
            s->killed = true;
            s->give_up_at = now + SERVICE_KILL_WAIT_MS;
        } else if (s->killed && now >= s->give_up_at) {
            s->sup_done = true; /* reported as gone; the supervisor is left to init */
        } else if (s->killed)
            (void)service_signal_tree(s->sup, SIGKILL);
    }
    /* A probe killed by the teardown is normally reaped at once; it is not
     * waited for past the grace period. */
    if (s->sup_done && (s->probe_pid <= 0 || now >= s->kill_at)) {
        finish(s);
        return false;
    }
    return true;
}

static int64_t tick(struct ae_loop *loop, int64_t id, void *data)
{
    struct agent *a = data;
    int64_t now = time_mono_ms();
    bool more = false;
    for (struct service *s = a->services; s; s = s->next)
        more |= step(s, now);
    if (!more)
        a->service_timer = 0;
    return more ? TICK_MS : AE_NOMORE;
}

bool service_reaped(struct agent *a, pid_t pid, int status)
{
    /* Only live pids match: a finished service's supervisor pid may have
     * been reused by now. */
    for (struct service *s = a->services; s; s = s->next)
        if (s->probe_pid > 0 && pid == s->probe_pid) {
            s->probe_pid = 0;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && s->state == ST_STARTING && !s->killing &&
                !s->leader_done) {
                s->state = ST_RUNNING;
                s->ready_wall = time_wall_ms();
            }
            service_kick(a);
            return true;
        }
    for (struct service *s = a->services; s; s = s->next)
        if (!s->sup_done && pid == s->sup) {
            s->sup_done = true;
            service_kick(a);
            return true;
        }
    return false;
}

void service_watch(struct service *s)
{
    struct agent *a = s->agent;
    /* Cannot fail short of ENOMEM: an unwatched pipe is drained when the
     * service ends, an unwatched status is noticed when the supervisor is
     * reaped. */
    (void)ae_file_add(a->loop, s->status_fd, AE_READABLE, status_readable, s, NULL);
    (void)ae_file_add(a->loop, s->out.pipe_fd, AE_READABLE, log_readable, &s->out, NULL);
    (void)ae_file_add(a->loop, s->err.pipe_fd, AE_READABLE, log_readable, &s->err, NULL);
}
