/* Services (docs/workspaces.md "Services"): named long-running commands
 * that the agent owns. Each one runs under a supervisor process that the
 * agent forks: a child subreaper (PR_SET_CHILD_SUBREAPER), so that every
 * process the service starts stays in the supervisor's tree, even one
 * that left the service's session and process group (setsid, double
 * fork). Stopping a service signals that whole tree (TERM, then KILL after
 * a grace period). Output goes through pipes the agent drains into
 * bounded log files under SERVICE_DIR/<name>/, outside /workspace.
 *
 *   service.c        the ops and each service's state machine
 *   service_log.c    log pipes into rotated files, and tails of them
 *   service_proc.c   supervisor, process tree, signals
 *   service_probe.c  readiness probes, each in a child process
 * service.c calls the other three; they call nothing of each other. */
#ifndef PYRO_AGENT_SERVICE_H
#define PYRO_AGENT_SERVICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define SERVICE_DIR "/run/pyro-services"
/* Records kept per agent (finished ones are evicted first). */
#define SERVICE_MAX 32
#define SERVICE_NAME_MAX 64
/* A log file is rotated (to <stream>.log.1) past this size. */
#define SERVICE_LOG_ROTATE (4u * 1024 * 1024)
/* Text per stream in one service_logs reply, and in a record's log tail. */
#define SERVICE_LOGS_REPLY_MAX (1u * 1024 * 1024)
#define SERVICE_TAIL_LINES 20
#define SERVICE_TAIL_MAX (8u * 1024)
#define SERVICE_STOP_GRACE_MS 3000
/* After SIGKILL: the longest wait for the tree to be gone. */
#define SERVICE_KILL_WAIT_MS 5000
/* One readiness probe runs at most max(interval, this), within the
 * readiness deadline. */
#define SERVICE_PROBE_MIN_MS 1000

enum service_probe_type { PROBE_NONE, PROBE_FILE, PROBE_TCP, PROBE_HTTP, PROBE_COMMAND };

struct service_probe {
    enum service_probe_type type;
    char *target; /* path, host:port, URL or command */
};

struct service_log {
    int pipe_fd; /* read end, -1 once closed */
    int file_fd;
    char *path;             /* .../<stream>.log; rotation keeps one <path>.1 */
    uint64_t size, dropped; /* bytes in the file; bytes rotated away for good */
};

/* ---- service.c: the state machine ---- */
struct agent;
enum svc_state { ST_STARTING, ST_RUNNING, ST_EXITED, ST_FAILED, ST_STOPPED };

struct service {
    struct service *next;
    struct agent *agent;
    char *name, *command, *cwd, *dir;
    struct service_probe probe;
    int64_t ready_timeout_ms, interval_ms;
    enum svc_state state, final;
    const char *stop_reason;
    int64_t started_wall, ready_wall, ended_wall;
    pid_t sup, leader;
    int status_fd;
    bool leader_done, sup_done, finished;
    int leader_status;
    struct service_log out, err;
    int64_t ready_deadline, next_probe, probe_deadline;
    pid_t probe_pid;
    bool killing, killed;
    int64_t kill_at, give_up_at;
    int64_t start_req; /* request to answer when ready or gone; 0: none */
};

/* A stop request waiting for its service (name) or all services (NULL). */
struct service_wait {
    struct service_wait *next;
    int64_t id;
    char *name;
};

struct service *service_find(struct agent *a, const char *name);
/* The wire record of a service, and {count, running_count, services} of
 * all of them (or only the one named only). */
json_t *service_record(const struct service *s);
json_t *service_list_result(struct agent *a, const char *only);
/* Leaves starting or running: the tree gets TERM, later KILL; final is
 * the state taken once it is gone. */
void service_teardown(struct service *s, enum svc_state final, const char *reason);
/* Runs the timer while a service starts or is torn down. */
void service_kick(struct agent *a);
/* Answers the stop requests whose services are all gone. */
void service_answer_waits(struct agent *a);
void service_free(struct service *s);
/* Unlinks s from the agent's list. */
void service_unlink(struct agent *a, struct service *s);
/* Registers the new service's pipes with the loop. */
void service_watch(struct service *s);

/* ---- service_proc.c ---- */
/* Forks the supervisor, which forks the leader: /bin/sh -c command in cwd,
 * in a new session, stdin /dev/null, stdout and stderr on out_w and err_w.
 * *status_rd gets a non-blocking pipe on which the supervisor writes the
 * leader's wait status (an int) once it exits; the supervisor itself exits
 * when its tree is empty. */
int service_spawn(const char *command, const char *cwd, char *const *envp, int out_w, int err_w, pid_t *sup,
                  pid_t *leader, int *status_rd, pyro_error *err);
/* The leader's environment: the defaults (PATH, HOME, LANG), overridden
 * and extended by the request's "env" object (secret_env); an error when
 * it is malformed. Free with strv_free. */
#define SERVICE_ENV_MAX 64
int service_envp(const json_t *env, char ***out, pyro_error *err);
/* Sends sig to every process below sup (not sup itself). Returns how many
 * processes were signalled. */
size_t service_signal_tree(pid_t sup, int sig);

/* ---- service_probe.c ---- */
/* Checks a readiness spec: *p gets a copy; "file" paths relative to cwd
 * become absolute. */
int service_probe_parse(const char *type, const char *target, const char *cwd, struct service_probe *p,
                        pyro_error *err);
void service_probe_clear(struct service_probe *p);
/* Forks one probe attempt in a new session: it exits 0 when ready. A
 * "command" probe runs /bin/sh -c in cwd; the others connect or stat,
 * bounded by timeout_ms. Returns the pid or a negative errno. */
pid_t service_probe_spawn(const struct service_probe *p, const char *cwd, int timeout_ms);
const char *service_probe_name(enum service_probe_type t);

/* ---- service_log.c ---- */
/* Creates dir/<stream>.log afresh (and removes an old .1); *pipe_w gets the
 * write end for the service. */
int service_log_open(struct service_log *l, const char *dir, const char *stream, int *pipe_w, pyro_error *err);
/* Moves what the pipe holds into the file (bounded rounds). Returns false
 * at EOF or error (the caller closes the pipe). */
bool service_log_pump(struct service_log *l);
void service_log_close_pipe(struct service_log *l);
void service_log_free(struct service_log *l);
/* The last tail_lines lines (0: everything) of the stream, at most max
 * bytes: malloc'ed raw bytes in *buf and *len; *cut when the text does not
 * start at the first byte the service wrote (or the tail was cut short). */
void service_log_tail(const struct service_log *l, int64_t tail_lines, size_t max, char **buf, size_t *len, bool *cut);

#endif
