/* The monitor's insides (monitor.h is its outside), one concern per file,
 * each calling only the ones listed before it:
 *
 *   monitor_console.c init's stdout and stderr: a pipe drained into
 *                     <dir>/console.log, bounded (MONITOR_CONSOLE_MAX)
 *   monitor_route.c   framed output to the agent and to clients (one
 *                     bounded output queue each) and the routes that map
 *                     agent-side request ids to (client, client-side id)
 *   monitor_life.c    the TTL/exit bookkeeping: monitor.json, stopping
 *                     (shutdown request, grace timer, kill), the events
 *                     that end the instance (TTL, signals, PID 1's exit),
 *                     the answers to monitor_stop
 *   monitor_ports.c   published ports: loopback listeners whose
 *                     connections go through the agent (port_connect)
 *   monitor_agent.c   the agent channel: handshake, frames from the agent
 *   monitor_client.c  the client multiplexing: control.sock, frames from
 *                     clients, disconnection
 *   monitor.c         monitor_main(): set-up, the loop, teardown
 *
 * Everything runs in one thread on one base/ae loop. */
#ifndef PYRO_MONITOR_IMPL_H
#define PYRO_MONITOR_IMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/monitor.h"
#include "base/ae.h"
#include "base/outq.h"
#include "proto/proto.h"

#define MONITOR_CLIENTS_MAX 64
/* A client that lets this much output pile up is disconnected. */
#define MONITOR_OUTQ_MAX (64u * 1024 * 1024)
/* Output for the agent may pile up to this much; past it, client requests
 * are refused. */
#define MONITOR_AGENT_OUTQ_MAX (64u * 1024 * 1024)
/* How long the agent may take to answer the first hello. */
#define MONITOR_HELLO_MS 30000
/* console.log holds at most this much of init's output per start (then a
 * note; the rest is read and dropped). */
#define MONITOR_CONSOLE_MAX (1024u * 1024)
/* Published ports: at most this many per instance, this many forwarded
 * connections at once, each with this much in flight either way; the
 * agent's service list is polled this often while ports are published. */
#define MONITOR_PORTS_MAX 16
#define MONITOR_FWD_MAX 64
#define MONITOR_FWD_WINDOW (256u * 1024)
#define MONITOR_PORTS_POLL_MS 1000
#define MONITOR_SERVICE_NAME_MAX 64

struct client {
    struct client *next;
    struct monitor *m;
    int fd;
    struct proto_reader rd;
    struct outq out;
    bool dead; /* closed after the current round */
};

/* One forwarded request: agent-side id <-> (client, client-side id). */
struct route {
    struct route *next;
    int64_t agent_id;
    struct client *client; /* NULL: the monitor's own request, or an orphan */
    int64_t client_id;
    bool is_exec;
    bool is_stop;       /* the monitor's shutdown request */
    bool is_ports_poll; /* the monitor's service_list (monitor_ports.c) */
    struct fwd *fwd;    /* a forwarded connection's port_connect, or NULL */
};

struct pub;
struct fwd;

struct monitor {
    const struct monitor_config *cfg;
    const struct backend_ops *ops; /* backend_get(cfg->backend) */
    struct ae_loop *loop;
    int listen_fd, agent_fd, ttl_fd, sig_fd;
    struct backend_instance inst;
    bool inst_started;
    struct proto_reader agent_rd;
    struct outq agent_out;
    json_t *agent_hello;
    struct client *clients;
    int nclients;
    struct route *routes;
    int64_t next_id;
    bool stopping;
    int64_t stop_ns; /* when the stop began (time_mono_ns) */
    const char *reason;
    struct client *stop_waiters[MONITOR_CLIENTS_MAX];
    int64_t stop_waiter_ids[MONITOR_CLIENTS_MAX];
    int nstop_waiters;
    int64_t started_ms;
    int console_rd;           /* read end of init's stdout/stderr pipe, or -1 */
    int console_fd;           /* <dir>/console.log, or -1 */
    size_t console_size;      /* bytes written to it since the start */
    uint64_t console_dropped; /* bytes read past MONITOR_CONSOLE_MAX */
    struct pub *pubs;         /* published ports (monitor_ports.c) */
    int npubs;
    struct fwd *fwds; /* their connections */
    int nfwds;
    int64_t ports_token;
    int64_t ports_timer; /* 0: not armed */
    bool ports_poll_busy;
};

/* ---- monitor_console.c ---- */
/* Creates the console pipe and (re)creates <dir>/console.log (0600, empty,
 * never through a symlink); *write_end goes to the backend as stdio_fd. */
int monitor_console_open(struct monitor *m, int *write_end, pyro_error *err);
/* Appends what the pipe holds now to console.log, within the cap. */
void monitor_console_drain(struct monitor *m);
void monitor_console_readable(struct ae_loop *loop, int fd, int mask, void *data);
/* Drains the rest, notes what was dropped and closes both ends. */
void monitor_console_close(struct monitor *m);
/* The last lines of console.log (at most MONITOR_CONSOLE_TAIL bytes read),
 * printable ASCII joined with " | ", for an error message; "" when none. */
#define MONITOR_CONSOLE_TAIL 400
void monitor_console_tail(struct monitor *m, char *buf, size_t size);

/* ---- monitor_route.c ---- */
/* Queues a frame for the agent (hdr borrowed); -PYRO_E_LIMIT past
 * MONITOR_AGENT_OUTQ_MAX. */
int monitor_to_agent(struct monitor *m, json_t *hdr, const void *body, size_t len, pyro_error *err);
/* Queues a frame for c (hdr borrowed); past MONITOR_OUTQ_MAX c is dead. */
void monitor_to_client(struct monitor *m, struct client *c, json_t *hdr, const void *body, size_t len);
void monitor_client_error(struct monitor *m, struct client *c, int64_t id, int code, const char *msg);
struct route *monitor_route_by_agent(struct monitor *m, int64_t id);
struct route *monitor_route_by_client(struct monitor *m, struct client *c, int64_t id);
struct route *monitor_route_new(struct monitor *m, struct client *c, int64_t client_id);
void monitor_route_drop(struct monitor *m, struct route *r);

/* ---- monitor_life.c ---- */
void monitor_record(struct monitor *m, const char *state, const char *error);
/* Asks the agent to power off and arms the grace timer (once). */
void monitor_stop_begin(struct monitor *m, const char *reason);
void monitor_kill_instance(struct monitor *m);
/* File events that end the instance: the TTL timerfd, the signalfd,
 * PID 1's pidfd. */
void monitor_on_ttl(struct ae_loop *loop, int fd, int mask, void *data);
void monitor_on_signal(struct ae_loop *loop, int fd, int mask, void *data);
void monitor_on_exit(struct ae_loop *loop, int fd, int mask, void *data);
/* After teardown: answers the clients that asked for monitor_stop. */
void monitor_answer_stop_waiters(struct monitor *m);

/* ---- monitor_ports.c ---- */
/* A monitor_publish/confirm/unpublish/ports request: answered, true. */
bool monitor_ports_request(struct monitor *m, struct client *c, struct proto_frame *f);
/* A frame of the agent for a forwarded connection's route. */
void monitor_ports_agent_frame(struct monitor *m, struct route *r, struct proto_frame *f);
/* The answer to the monitor's service_list poll. */
void monitor_ports_poll_answer(struct monitor *m, struct proto_frame *f);
void monitor_ports_close_all(struct monitor *m);

/* ---- monitor_agent.c ---- */
/* Blocks until the agent's hello arrives on the fresh channel. */
int monitor_agent_handshake(struct monitor *m, pyro_error *err);
void monitor_agent_readable(struct ae_loop *loop, int fd, int mask, void *data);

/* ---- monitor_client.c ---- */
/* Binds <dir>/control.sock (0600) into m->listen_fd. */
int monitor_listen(struct monitor *m, pyro_error *err);
void monitor_on_accept(struct ae_loop *loop, int fd, int mask, void *data);
/* Closes the clients marked dead during the round. */
void monitor_clients_sweep(struct monitor *m);

#endif
