/* The service ops: their arguments, and creating and listing services
 * (the life of each one is service.c's). Nothing is left behind by a
 * start that fails: no record, no directory contents, no process. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/service.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/timeutil.h"
#include "proto/defaults.h"
#include "proto/exec.h"

#define COMMAND_MAX (64 * 1024)

static const char *const stop_reasons[] = {"stopped", "workspace_stopped", "reset", "deleted"};

static int name_check(const char *name, pyro_error *err)
{
    size_t n = name ? strlen(name) : 0;
    bool ok = n > 0 && n <= SERVICE_NAME_MAX && name[0] != '.' && name[0] != '-';
    for (size_t i = 0; ok && i < n; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
             (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '_' || name[i] == '-';
    if (!ok)
        return err_set(err, -PYRO_E_INVALID,
                       "service name must be 1-%d letters, digits, '.', '_' or '-', not starting with '.' or '-'",
                       SERVICE_NAME_MAX);
    return 0;
}

static int int_arg(const json_t *args, const char *key, int64_t def, int64_t lo, int64_t hi, int64_t *out,
                   pyro_error *err)
{
    const json_t *v = json_object_get(args, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return err_set(err, -PYRO_E_INVALID, "\"%s\" must be an integer from %lld to %lld", key, (long long)lo,
                       (long long)hi);
    *out = json_integer_value(v);
    return 0;
}

/* readiness: absent/null, or {type, path|address|url|command}. */
static int readiness_arg(const json_t *args, const char *cwd, struct service_probe *p, pyro_error *err)
{
    const json_t *r = json_object_get(args, "readiness");
    memset(p, 0, sizeof(*p));
    if (!r || json_is_null(r))
        return 0;
    if (!json_is_object(r) || !json_is_string(json_object_get(r, "type")))
        return err_set(err, -PYRO_E_INVALID, "\"readiness\" must be an object with a \"type\"");
    static const char *const keys[] = {"path", "address", "url", "command"};
    const char *type = json_get_str(r, "type", "");
    const char *target = NULL;
    size_t given = 0;
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (json_object_get(r, keys[i])) {
            given++;
            target = json_string_value(json_object_get(r, keys[i]));
        }
    if (given != 1 || json_object_size(r) != 2 || !target)
        return err_set(err, -PYRO_E_INVALID,
                       "\"readiness\" needs exactly one string of path (file), address (tcp), url (http) or "
                       "command (command)");
    int rc = service_probe_parse(type, target, cwd, p, err);
    if (rc < 0)
        return rc;
    static const char *const want[] = {"", "path", "address", "url", "command"};
    if (!json_object_get(r, want[p->type])) {
        service_probe_clear(p);
        return err_set(err, -PYRO_E_INVALID, "readiness %s takes \"%s\"", type, want[p->type]);
    }
    return 0;
}

/* Room for one more: the oldest finished record goes if needed. */
static int make_room(struct agent *a, pyro_error *err)
{
    size_t n = 0;
    struct service *oldest = NULL;
    for (struct service *s = a->services; s; s = s->next) {
        n++;
        if (s->finished && (!oldest || s->ended_wall < oldest->ended_wall))
            oldest = s;
    }
    if (n < SERVICE_MAX)
        return 0;
    if (!oldest)
        return err_set(err, -PYRO_E_LIMIT, "a workspace runs at most %d services: stop one first", SERVICE_MAX);
    service_unlink(a, oldest);
    service_free(oldest);
    return 0;
}

/* Where a service's logs go: SERVICE_DIR, or in a non-init agent (tests)
 * $PYRO_AGENT_SERVICE_DIR when set. */
static const char *service_base(const struct agent *a)
{
    const char *d = a->init_mode ? NULL : getenv("PYRO_AGENT_SERVICE_DIR");
    return d && d[0] == '/' ? d : SERVICE_DIR;
}

/* Checks the arguments into s; *old gets the ended record of the same
 * name, replaced once the new service runs. */
static int start_checked(struct agent *a, const json_t *args, struct service *s, struct service **old, pyro_error *err)
{
    const char *name = json_get_str(args, "name", NULL);
    int r = name_check(name, err);
    if (r < 0)
        return r;
    *old = service_find(a, name);
    if (*old && !(*old)->finished)
        return err_set(err, -EEXIST, "service '%s' already exists and is %s: stop it first", name,
                       (*old)->state == ST_STARTING ? "starting" : "running");
    const char *command = json_get_str(args, "command", NULL);
    if (!command || !*command || strlen(command) > COMMAND_MAX)
        return err_set(err, -PYRO_E_INVALID, "\"command\" must be a non-empty string of at most %d bytes", COMMAND_MAX);
    const char *cwd = json_get_str(args, "cwd", "/");
    struct stat st;
    if (cwd[0] != '/' || strlen(cwd) > 4096)
        return err_set(err, -PYRO_E_INVALID, "\"cwd\" must be an absolute path");
    if (stat(cwd, &st) < 0)
        return err_errno(err, errno, "cwd %s", cwd);
    if (!S_ISDIR(st.st_mode))
        return err_set(err, -ENOTDIR, "cwd %s is not a directory", cwd);
    if ((r = int_arg(args, "ready_timeout_ms", 30000, 100, 3600000, &s->ready_timeout_ms, err)) < 0 ||
        (r = int_arg(args, "ready_interval_ms", PROTO_SERVICE_INTERVAL_MS, PROTO_SERVICE_INTERVAL_MIN_MS,
                     PROTO_SERVICE_INTERVAL_MAX_MS, &s->interval_ms, err)) < 0 ||
        (r = readiness_arg(args, cwd, &s->probe, err)) < 0)
        return r;
    /* Replacing an ended record of the same name makes room by itself. */
    if (!*old && (r = make_room(a, err)) < 0)
        return r;
    s->name = xstrdup(name);
    s->command = xstrdup(command);
    s->cwd = xstrdup(cwd);
    s->dir = xasprintf("%s/%s", service_base(a), name);
    return 0;
}

int op_service_start(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    struct service *s = xcalloc(1, sizeof(*s));
    s->agent = a;
    s->status_fd = s->out.pipe_fd = s->out.file_fd = s->err.pipe_fd = s->err.file_fd = -1;
    int ow = -1, ew = -1;
    struct service *old = NULL;
    int r = start_checked(a, args, s, &old, err);
    if (r == 0)
        r = mkdir_p(s->dir, 0700, err);
    if (r == 0)
        r = service_log_open(&s->out, s->dir, "stdout", &ow, err);
    if (r == 0)
        r = service_log_open(&s->err, s->dir, "stderr", &ew, err);
    _cleanup_strv_ char **envp = NULL;
    if (r == 0)
        r = service_envp(json_object_get(args, "env"), &envp, err);
    if (r == 0)
        r = service_spawn(s->command, s->cwd, envp, ow, ew, &s->sup, &s->leader, &s->status_fd, err);
    if (ow >= 0)
        close(ow);
    if (ew >= 0)
        close(ew);
    if (r < 0) {
        /* Nothing half-created: no log files of a service that never ran. */
        if (s->out.path)
            (void)unlink(s->out.path);
        if (s->err.path)
            (void)unlink(s->err.path);
        service_free(s);
        return r;
    }
    if (old) {
        service_unlink(a, old);
        service_free(old);
    }
    int64_t now = time_mono_ms();
    s->started_wall = time_wall_ms();
    s->ready_deadline = now + s->ready_timeout_ms;
    s->next_probe = now;
    s->next = a->services;
    a->services = s;
    service_watch(s);
    if (s->probe.type == PROBE_NONE) {
        s->state = ST_RUNNING;
        s->ready_wall = s->started_wall;
        agent_reply_ok(a, req->id, service_record(s), NULL, 0);
        return 0;
    }
    s->state = ST_STARTING;
    s->start_req = req->id;
    service_kick(a);
    return 0;
}

static const char *name_arg(const json_t *args, pyro_error *err)
{
    const char *name = json_get_str(args, "name", NULL);
    return name_check(name, err) < 0 ? NULL : name;
}

int op_service_list(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    agent_reply_ok(a, req->id, service_list_result(a, NULL), NULL, 0);
    return 0;
}

int op_service_status(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const char *name = name_arg(json_object_get(req->hdr, "args"), err);
    if (!name)
        return err->code;
    struct service *s = service_find(a, name);
    if (!s)
        return err_set(err, -PYRO_E_NOT_FOUND, "no service named '%s'", name);
    agent_reply_ok(a, req->id, service_record(s), NULL, 0);
    return 0;
}

int op_service_logs(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    const char *name = name_arg(args, err);
    if (!name)
        return err->code;
    int64_t lines = 200;
    int r = int_arg(args, "tail_lines", 200, 0, 1000000, &lines, err);
    if (r < 0)
        return r;
    struct service *s = service_find(a, name);
    if (!s)
        return err_set(err, -PYRO_E_NOT_FOUND, "no service named '%s'", name);
    /* Bring the files up to date with what the pipes hold. */
    (void)service_log_pump(&s->out);
    (void)service_log_pump(&s->err);
    json_t *res = json_object();
    json_set(res, "service_name", json_string(s->name));
    bool cut_o = false, cut_e = false;
    for (int i = 0; i < 2; i++) {
        char *buf;
        size_t len;
        service_log_tail(i ? &s->err : &s->out, lines, SERVICE_LOGS_REPLY_MAX, &buf, &len, i ? &cut_e : &cut_o);
        struct proto_exec_result tmp = {0};
        proto_exec_stream_set(&tmp.out, buf, len, 0);
        free(buf);
        json_set(res, i ? "stderr" : "stdout", json_stringn(tmp.out.text ? tmp.out.text : "", tmp.out.len));
        proto_exec_result_clear(&tmp);
    }
    if (lines)
        json_set(res, "tail_lines", json_integer(lines));
    json_set(res, "stdout_truncated", json_boolean(cut_o));
    json_set(res, "stderr_truncated", json_boolean(cut_e));
    json_set(res, "truncated", json_boolean(cut_o || cut_e));
    agent_reply_ok(a, req->id, res, NULL, 0);
    return 0;
}

/* service_stop {name} or {all: true}, with an optional reason: answered
 * (as service_list is) once the services are gone. */
int op_service_stop(struct agent *a, const struct proto_frame *req, pyro_error *err)
{
    const json_t *args = json_object_get(req->hdr, "args");
    bool all = json_get_bool(args, "all", false);
    const char *name = NULL;
    if (!all && !(name = name_arg(args, err)))
        return err->code;
    const char *reason = NULL, *given = json_get_str(args, "reason", "stopped");
    for (size_t i = 0; i < ARRAY_SIZE(stop_reasons); i++)
        if (!strcmp(given, stop_reasons[i]))
            reason = stop_reasons[i];
    if (!reason)
        return err_set(err, -PYRO_E_INVALID, "\"reason\" must be stopped, workspace_stopped, reset or deleted");
    if (name && !service_find(a, name))
        return err_set(err, -PYRO_E_NOT_FOUND, "no service named '%s'", name);
    for (struct service *s = a->services; s; s = s->next)
        if ((!name || !strcmp(name, s->name)) && !s->finished && !s->killing)
            service_teardown(s, ST_STOPPED, reason);
    struct service_wait *w = xcalloc(1, sizeof(*w));
    w->id = req->id;
    w->name = name ? xstrdup(name) : NULL;
    w->next = a->service_waits;
    a->service_waits = w;
    service_answer_waits(a);
    return 0;
}

bool service_request_busy(struct agent *a, int64_t id)
{
    for (struct service *s = a->services; s; s = s->next)
        if (s->start_req == id)
            return true;
    for (struct service_wait *w = a->service_waits; w; w = w->next)
        if (w->id == id)
            return true;
    return false;
}

void service_free_all(struct agent *a)
{
    while (a->services) {
        struct service *s = a->services;
        a->services = s->next;
        if (!s->sup_done) {
            (void)service_signal_tree(s->sup, SIGKILL);
            (void)kill(s->sup, SIGKILL);
        }
        service_free(s);
    }
    while (a->service_waits) {
        struct service_wait *w = a->service_waits;
        a->service_waits = w->next;
        free(w->name);
        free(w);
    }
    if (a->service_timer)
        ae_timer_del(a->loop, a->service_timer);
    a->service_timer = 0;
}
