#include "proto/reply.h"

#include <stdint.h>
#include <string.h>

#include "base/cleanup.h"
#include "proto/exec.h"
#include "proto/proto.h"

#define F_INT(k, lo, hi)                                    \
    {                                                       \
        .key = k, .kind = PROTO_K_INT, .min = lo, .max = hi \
    }
#define F_SIZE(k) F_INT(k, 0, PROTO_INT_MAX)
#define F_BOOL(k)                      \
    {                                  \
        .key = k, .kind = PROTO_K_BOOL \
    }
#define F_TEXT(k, n)                             \
    {                                            \
        .key = k, .kind = PROTO_K_TEXT, .max = n \
    }
#define F_PATH(k) F_TEXT(k, PROTO_PATH_TEXT_MAX)
#define F_ONE_OF(k, values)                                         \
    {                                                               \
        .key = k, .kind = PROTO_K_TEXT, .max = 64, .one_of = values \
    }
#define F_OBJECT(k, s)                               \
    {                                                \
        .key = k, .kind = PROTO_K_OBJECT, .shape = s \
    }
#define F_TUPLE(s)                        \
    {                                     \
        .kind = PROTO_K_TUPLE, .shape = s \
    }
#define F_ARRAY(k, n, it)                                     \
    {                                                         \
        .key = k, .kind = PROTO_K_ARRAY, .max = n, .item = it \
    }
#define PID_MAX_ INT32_MAX
#define MODE_MAX 07777

static const char *const file_types[] = {"file", "dir", "symlink", "fifo", "socket", "char", "block", "unknown", NULL};

/* ---- shapes ----------------------------------------------------------- */

static const struct proto_field ping_f[] = {F_INT("pid", 1, PID_MAX_), F_SIZE("uptime_ms")};
static const struct proto_shape ping_s = PROTO_SHAPE(ping_f);

static const struct proto_field kill_f[] = {F_INT("target", 1, PROTO_ID_MAX - 1), F_INT("signal", 1, 64)};
static const struct proto_shape kill_s = PROTO_SHAPE(kill_f);

/* file_stat's result and each file_list entry. */
static const struct proto_field stat_f[] = {
    F_PATH("path"),
    F_ONE_OF("type", file_types),
    F_SIZE("size"),
    F_INT("mode", 0, MODE_MAX),
    F_INT("mtime_ms", -PROTO_INT_MAX, PROTO_INT_MAX),
    {.key = "link_target", .kind = PROTO_K_TEXT, .max = PROTO_PATH_TEXT_MAX, .optional = true},
};
static const struct proto_shape stat_s = PROTO_SHAPE(stat_f);

static const struct proto_field stat_item = F_OBJECT(NULL, &stat_s);
static const struct proto_field list_f[] = {F_PATH("path"), F_ARRAY("entries", PROTO_LIST_MAX, &stat_item),
                                            F_BOOL("truncated")};
static const struct proto_shape list_s = PROTO_SHAPE(list_f);

static const struct proto_field read_f[] = {F_PATH("path"), F_SIZE("size"), F_SIZE("offset"),
                                            F_INT("bytes", 0, PROTO_BODY_MAX), F_BOOL("truncated")};
static const struct proto_shape read_s = PROTO_SHAPE(read_f);

static const struct proto_field write_f[] = {F_PATH("path"), F_SIZE("bytes")};
static const struct proto_shape write_s = PROTO_SHAPE(write_f);

static const struct proto_field delete_f[] = {F_PATH("path"), F_ONE_OF("type", file_types), F_BOOL("deleted")};
static const struct proto_shape delete_s = PROTO_SHAPE(delete_f);

/* A manifest entry: [path, type, mode, size, sha256 hex | link target | ""]. */
static const struct proto_field mentry_f[] = {F_PATH(NULL), F_ONE_OF(NULL, file_types), F_INT(NULL, 0, MODE_MAX),
                                              F_SIZE(NULL), F_PATH(NULL)};
static const struct proto_shape mentry_s = PROTO_SHAPE(mentry_f);
static const struct proto_field mentry_item = F_TUPLE(&mentry_s);
static const struct proto_field manifest_f[] = {F_PATH("path"), F_INT("count", 0, PROTO_MANIFEST_MAX),
                                                F_ARRAY("entries", PROTO_MANIFEST_MAX, &mentry_item),
                                                F_BOOL("truncated")};
static const struct proto_shape manifest_s = PROTO_SHAPE(manifest_f);

static const struct proto_field tar_out_f[] = {F_SIZE("bytes"), F_SIZE("entries"), F_SIZE("skipped")};
static const struct proto_shape tar_out_s = PROTO_SHAPE(tar_out_f);

static const struct proto_field tar_in_f[] = {F_SIZE("entries"), F_SIZE("bytes")};
static const struct proto_shape tar_in_s = PROTO_SHAPE(tar_in_f);

static const struct proto_field flush_f[] = {F_PATH("root"), F_BOOL("flushed")};
static const struct proto_shape flush_s = PROTO_SHAPE(flush_f);

static const struct proto_field shutdown_f[] = {F_BOOL("init")};
static const struct proto_shape shutdown_s = PROTO_SHAPE(shutdown_f);

/* Services (agent/service.h): the record, lists of them, logs. */
#define SVC_TEXT_MAX (3 * 64 * 1024)
#define SVC_TAIL_TEXT_MAX (3 * 8 * 1024)
#define SVC_LOG_TEXT_MAX (3 * 1024 * 1024)
#define SVC_MAX 32
static const char *const svc_states[] = {"starting", "running", "exited", "failed", "stopped", NULL};
static const char *const svc_reasons[] = {"exited", "ready_timeout", "stopped", "workspace_stopped",
                                          "reset",  "deleted",       NULL};
static const char *const svc_probes[] = {"file", "tcp", "http", "command", NULL};
static const struct proto_field svc_ready_f[] = {
    F_ONE_OF("type", svc_probes),
    {.key = "path", .kind = PROTO_K_TEXT, .max = PROTO_PATH_TEXT_MAX, .optional = true},
    {.key = "address", .kind = PROTO_K_TEXT, .max = 3 * 4096, .optional = true},
    {.key = "url", .kind = PROTO_K_TEXT, .max = 3 * 4096, .optional = true},
    {.key = "command", .kind = PROTO_K_TEXT, .max = 3 * 4096, .optional = true},
};
static const struct proto_shape svc_ready_s = PROTO_SHAPE(svc_ready_f);
static const struct proto_field svc_f[] = {
    F_TEXT("service_name", 64),
    F_TEXT("command", SVC_TEXT_MAX),
    F_PATH("cwd"),
    F_ONE_OF("state", svc_states),
    F_INT("pid", 1, PID_MAX_),
    F_SIZE("started_at_ms"),
    {.key = "ready_at_ms", .kind = PROTO_K_INT, .max = PROTO_INT_MAX, .optional = true},
    {.key = "ended_at_ms", .kind = PROTO_K_INT, .max = PROTO_INT_MAX, .optional = true},
    {.key = "exit_code", .kind = PROTO_K_INT, .max = 255, .optional = true},
    {.key = "signal", .kind = PROTO_K_INT, .min = 1, .max = 64, .optional = true},
    {.key = "stop_reason", .kind = PROTO_K_TEXT, .max = 64, .one_of = svc_reasons, .optional = true},
    {.key = "readiness", .kind = PROTO_K_OBJECT, .shape = &svc_ready_s, .optional = true},
    F_INT("ready_timeout_ms", 0, PROTO_INT_MAX),
    F_INT("ready_interval_ms", 0, PROTO_INT_MAX),
    F_PATH("logs_dir"),
    {.key = "stdout_tail", .kind = PROTO_K_TEXT, .max = SVC_TAIL_TEXT_MAX, .optional = true},
    {.key = "stderr_tail", .kind = PROTO_K_TEXT, .max = SVC_TAIL_TEXT_MAX, .optional = true},
};
static const struct proto_shape svc_s = PROTO_SHAPE(svc_f);
static const struct proto_field svc_item = F_OBJECT(NULL, &svc_s);
static const struct proto_field svc_list_f[] = {F_INT("count", 0, SVC_MAX), F_INT("running_count", 0, SVC_MAX),
                                                F_ARRAY("services", SVC_MAX, &svc_item)};
static const struct proto_shape svc_list_s = PROTO_SHAPE(svc_list_f);
static const struct proto_field svc_logs_f[] = {
    F_TEXT("service_name", 64),
    F_TEXT("stdout", SVC_LOG_TEXT_MAX),
    F_TEXT("stderr", SVC_LOG_TEXT_MAX),
    {.key = "tail_lines", .kind = PROTO_K_INT, .min = 1, .max = PROTO_INT_MAX, .optional = true},
    F_BOOL("stdout_truncated"),
    F_BOOL("stderr_truncated"),
    F_BOOL("truncated"),
};
static const struct proto_shape svc_logs_s = PROTO_SHAPE(svc_logs_f);
/* Shells (agent/shell.c). The keys every shell result has, then each op's. */
static const char *const shell_states[] = {"running", "exited", "closed", NULL};
static const char *const shell_signals[] = {"INT", "TERM", "HUP", "KILL", "QUIT", NULL};
#define SHELL_ID_F F_TEXT("shell_id", 15)
#define SHELL_COMMON_F                                                                           \
    SHELL_ID_F, F_ONE_OF("state", shell_states), F_INT("cols", 1, 1000), F_INT("rows", 1, 1000), \
        {.key = "exit_code", .kind = PROTO_K_INT, .min = 0, .max = 255, .optional = true},       \
    {                                                                                            \
        .key = "exit_signal", .kind = PROTO_K_INT, .min = 1, .max = 64, .optional = true         \
    }
static const struct proto_field shell_open_f[] = {SHELL_COMMON_F, F_PATH("cwd"), F_INT("pid", 1, PID_MAX_),
                                                  F_SIZE("started_ms")};
static const struct proto_shape shell_open_s = PROTO_SHAPE(shell_open_f);
static const struct proto_field shell_read_f[] = {SHELL_COMMON_F,        F_SIZE("cursor"),
                                                  F_SIZE("next_cursor"), F_INT("bytes", 0, PROTO_BODY_MAX),
                                                  F_BOOL("truncated"),   F_SIZE("end")};
static const struct proto_shape shell_read_s = PROTO_SHAPE(shell_read_f);
static const struct proto_field shell_write_f[] = {SHELL_COMMON_F, F_SIZE("bytes"), F_SIZE("pending")};
static const struct proto_shape shell_write_s = PROTO_SHAPE(shell_write_f);
static const struct proto_field shell_signal_f[] = {SHELL_COMMON_F, F_ONE_OF("signal", shell_signals),
                                                    F_INT("pgid", 1, PID_MAX_)};
static const struct proto_shape shell_signal_s = PROTO_SHAPE(shell_signal_f);
/* One shell ({shell_id, state: closed, ...}) or all of them ({closed: n}). */
static const struct proto_field shell_close_f[] = {
    {.key = "shell_id", .kind = PROTO_K_TEXT, .max = 15, .optional = true},
    {.key = "state", .kind = PROTO_K_TEXT, .max = 64, .one_of = shell_states, .optional = true},
    {.key = "cols", .kind = PROTO_K_INT, .min = 1, .max = 1000, .optional = true},
    {.key = "rows", .kind = PROTO_K_INT, .min = 1, .max = 1000, .optional = true},
    {.key = "exit_code", .kind = PROTO_K_INT, .min = 0, .max = 255, .optional = true},
    {.key = "exit_signal", .kind = PROTO_K_INT, .min = 1, .max = 64, .optional = true},
    F_INT("closed", 0, 64),
};
static const struct proto_shape shell_close_s = PROTO_SHAPE(shell_close_f);

/* Answered by the monitor in front of the agent (backend/monitor.c). */
static const char *const monitor_states[] = {"running", "stopping", NULL};
static const struct proto_field mstatus_f[] = {F_ONE_OF("state", monitor_states), F_INT("sandbox_pid", 0, PID_MAX_),
                                               F_INT("clients", 0, INT32_MAX)};
static const struct proto_shape mstatus_s = PROTO_SHAPE(mstatus_f);
static const struct proto_field mstop_f[] = {F_TEXT("reason", 256)};
static const struct proto_shape mstop_s = PROTO_SHAPE(mstop_f);

/* Published ports: the agent's side of one forwarded connection
 * (agent/portfwd.c), and the monitor's table (backend/monitor_ports.c). */
static const struct proto_field port_conn_f[] = {F_INT("port", 1, 65535), F_SIZE("bytes_in"), F_SIZE("bytes_out")};
static const struct proto_shape port_conn_s = PROTO_SHAPE(port_conn_f);
static const char *const port_protocols[] = {"tcp", NULL};
static const struct proto_field pub_f[] = {F_TEXT("service_name", 64), F_INT("guest_port", 1, 65535),
                                           F_INT("host_port", 1, 65535), F_TEXT("host", 64),
                                           F_ONE_OF("protocol", port_protocols)};
static const struct proto_shape pub_s = PROTO_SHAPE(pub_f);
static const struct proto_field pub_item = F_OBJECT(NULL, &pub_s);
static const struct proto_field mpublish_f[] = {F_SIZE("token"), F_ARRAY("ports", 64, &pub_item)};
static const struct proto_shape mpublish_s = PROTO_SHAPE(mpublish_f);
static const struct proto_field mports_f[] = {F_ARRAY("ports", 64, &pub_item)};
static const struct proto_shape mports_s = PROTO_SHAPE(mports_f);
static const struct proto_field munpublish_f[] = {F_INT("closed", 0, 64)};
static const struct proto_shape munpublish_s = PROTO_SHAPE(munpublish_f);
static const struct proto_field mconfirm_f[] = {F_INT("confirmed", 0, 64)};
static const struct proto_shape mconfirm_s = PROTO_SHAPE(mconfirm_f);

/* ---- rules ------------------------------------------------------------ */

static int exec_rules(const json_t *res, size_t body_len, pyro_error *err)
{
    return proto_exec_result_rules(res, NULL, err);
}

static int read_rules(const json_t *res, size_t body_len, pyro_error *err)
{
    json_int_t bytes = json_integer_value(json_object_get(res, "bytes"));
    if ((size_t)bytes != body_len)
        return err_set(err, -PYRO_E_PROTOCOL, "result.bytes is %lld but the body has %zu", (long long)bytes, body_len);
    return 0;
}

static int manifest_rules(const json_t *res, size_t body_len, pyro_error *err)
{
    json_int_t count = json_integer_value(json_object_get(res, "count"));
    size_t n = json_array_size(json_object_get(res, "entries"));
    if ((size_t)count != n)
        return err_set(err, -PYRO_E_PROTOCOL, "result.count is %lld but %zu entries came", (long long)count, n);
    return 0;
}

static int svc_list_rules(const json_t *res, size_t body_len, pyro_error *err)
{
    json_int_t count = json_integer_value(json_object_get(res, "count"));
    json_t *arr = json_object_get(res, "services"), *e;
    size_t i, running = 0;
    json_array_foreach(arr, i, e) {
        const char *st = json_string_value(json_object_get(e, "state"));
        running += !strcmp(st, "starting") || !strcmp(st, "running");
    }
    if ((size_t)count != json_array_size(arr) ||
        (size_t)json_integer_value(json_object_get(res, "running_count")) != running)
        return err_set(err, -PYRO_E_PROTOCOL, "result.count or running_count disagrees with the %zu services",
                       json_array_size(arr));
    return 0;
}

static int shell_read_rules(const json_t *res, size_t body_len, pyro_error *err)
{
    int r = read_rules(res, body_len, err);
    if (r < 0)
        return r;
    json_int_t cur = json_integer_value(json_object_get(res, "cursor"));
    json_int_t next = json_integer_value(json_object_get(res, "next_cursor"));
    json_int_t end = json_integer_value(json_object_get(res, "end"));
    if (next != cur + (json_int_t)body_len || next > end)
        return err_set(err, -PYRO_E_PROTOCOL, "result.next_cursor %lld is not cursor %lld + %zu bytes within end %lld",
                       (long long)next, (long long)cur, body_len, (long long)end);
    return 0;
}

static const struct proto_reply replies[] = {
    {"ping", &ping_s, false, NULL},
    {"exec", &proto_exec_result_shape, false, exec_rules},
    {"kill", &kill_s, false, NULL},
    {"file_stat", &stat_s, false, NULL},
    {"file_list", &list_s, false, NULL},
    {"file_read", &read_s, true, read_rules},
    {"file_write", &write_s, false, NULL},
    {"file_delete", &delete_s, false, NULL},
    {"manifest", &manifest_s, false, manifest_rules},
    {"tar_out", &tar_out_s, false, NULL},
    {"tar_in", &tar_in_s, false, NULL},
    {"fs_flush", &flush_s, false, NULL},
    {"shutdown", &shutdown_s, false, NULL},
    {"service_start", &svc_s, false, NULL},
    {"service_status", &svc_s, false, NULL},
    {"service_list", &svc_list_s, false, svc_list_rules},
    {"service_stop", &svc_list_s, false, svc_list_rules},
    {"service_logs", &svc_logs_s, false, NULL},
    {"shell_open", &shell_open_s, false, NULL},
    {"shell_read", &shell_read_s, true, shell_read_rules},
    {"shell_write", &shell_write_s, false, NULL},
    {"shell_signal", &shell_signal_s, false, NULL},
    {"shell_close", &shell_close_s, false, NULL},
    {"monitor_status", &mstatus_s, false, NULL},
    {"monitor_stop", &mstop_s, false, NULL},
    {"port_connect", &port_conn_s, false, NULL},
    {"monitor_publish", &mpublish_s, false, NULL},
    {"monitor_confirm", &mconfirm_s, false, NULL},
    {"monitor_unpublish", &munpublish_s, false, NULL},
    {"monitor_ports", &mports_s, false, NULL},
};

const struct proto_reply *proto_reply_find(const char *op)
{
    for (size_t i = 0; op && i < ARRAY_SIZE(replies); i++)
        if (strcmp(replies[i].op, op) == 0)
            return &replies[i];
    return NULL;
}

int proto_reply_check(const char *op, const json_t *result, size_t body_len, pyro_error *err)
{
    const struct proto_reply *d = proto_reply_find(op);
    if (!d)
        return err_set(err, -PYRO_E_PROTOCOL, "no reply is declared for op %.64s", op ? op : "(none)");
    int r = proto_shape_check(d->shape, result, "result", err);
    if (r < 0)
        return r;
    if (body_len && !d->body)
        return err_set(err, -PYRO_E_PROTOCOL, "a body of %zu bytes came with the result", body_len);
    return d->rules ? d->rules(result, body_len, err) : 0;
}

/* ---- hello ------------------------------------------------------------ */

static const struct proto_field name_item = F_TEXT(NULL, 64);
static const struct proto_field limits_f[] = {F_INT("header_max", 2, PROTO_HEADER_MAX),
                                              F_INT("body_max", 0, PROTO_BODY_MAX), F_INT("chunk", 1, PROTO_BODY_MAX),
                                              F_INT("window", 1, PROTO_INT_MAX)};
static const struct proto_shape limits_s = {.fields = limits_f, .count = ARRAY_SIZE(limits_f), .open = true};
static const struct proto_field hello_f[] = {
    F_INT("version", 1, 255),         F_TEXT("agent", 256),
    F_ARRAY("ops", 256, &name_item),  F_ARRAY("reserved_ops", 256, &name_item),
    F_ARRAY("caps", 256, &name_item), F_OBJECT("limits", &limits_s),
    F_INT("pid", 1, PID_MAX_),        F_BOOL("init"),
};
/* Open: the header also carries t and id, and the monitor adds itself. */
static const struct proto_shape hello_s = {.fields = hello_f, .count = ARRAY_SIZE(hello_f), .open = true};

int proto_hello_check(const json_t *hello, pyro_error *err)
{
    return proto_shape_check(&hello_s, hello, "hello", err);
}
