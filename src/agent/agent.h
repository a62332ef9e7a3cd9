/* pyro-agent internals: the state of the single-threaded event loop and the
 * interfaces between the loop (server.c) and the operations (exec.c,
 * fsops.c, tarops.c, ...). */
#ifndef PYRO_AGENT_H
#define PYRO_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/ae.h"
#include "base/err.h"
#include "base/outq.h"
#include "proto/proto.h"

#define AGENT_NAME "pyro-agent"
/* Stop producing stream data while this much output is queued. */
#define AGENT_OUTQ_HIGH (4u * 1024 * 1024)
/* Output queued past this means the host does not read: the channel is
 * given up (as if the host had hung up). */
#define AGENT_OUTQ_MAX (64u * 1024 * 1024)

struct exec_job;
struct shell;
struct agent;
struct service;
struct service_wait;
struct portfwd;

/* A request whose body arrives as data frames ("stream": true): the op
 * consumes each chunk as it comes and answers at the end. */
struct stream_in {
    struct stream_in *next;
    int64_t id;
    uint64_t received;
    void *state;
    int (*on_data)(struct agent *a, struct stream_in *s, const uint8_t *buf, size_t len, pyro_error *err);
    /* Sends the response itself; returns < 0 to have an error sent. */
    int (*on_end)(struct agent *a, struct stream_in *s, pyro_error *err);
    void (*free)(void *state);
};

/* A response whose body leaves as data frames, paced by "ack" credit. */
struct stream_out {
    struct stream_out *next;
    int64_t id;
    uint64_t credit;
    uint64_t sent;
    void *state;
    /* Fills up to cap bytes; returns bytes (> 0), 0 at the end, < 0 on error. */
    ssize_t (*produce)(void *state, uint8_t *buf, size_t cap, pyro_error *err);
    /* The final response's result, called after produce returned 0. */
    json_t *(*result)(void *state, uint64_t sent);
    void (*free)(void *state);
};

struct agent {
    struct ae_loop *loop;
    int chan_fd;
    int sigfd;
    bool init_mode;
    bool vm; /* PID 1 of a VM: the hello's identity applies (identity.c) */
    /* A VM whose writable disk outlives it (a workspace's, the hello's
     * "durable"): what a request changed is synced before its reply, so a
     * killed QEMU (a power cut for the guest) loses no finished request. */
    bool durable;
    bool hello_done;
    bool quit;
    bool chan_eof;
    bool poweroff;       /* shutdown requested as PID 1 */
    bool poweroff_flush; /* syncfs of / before powering off */
    int64_t start_ms;
    struct proto_reader rd;
    struct outq out;     /* frames for the host */
    pyro_error *run_err; /* agent_run's, for the loop's callbacks */
    int run_r;           /* < 0: the channel failed, agent_run returns it */
    struct exec_job *execs;
    struct shell *shells; /* shell.c */
    int shell_seq;
    struct stream_in *ins;
    struct stream_out *outs;
    struct service *services;           /* service.h */
    struct service_wait *service_waits; /* stop requests waiting */
    int64_t service_timer;              /* 0: not running */
    struct portfwd *portfwds;           /* portfwd.c */
    int nportfwds;
};

/* The agent's files call downwards only (no two files call each other):
 *   server.c  the connection: init, the event loop, teardown
 *   dispatch.c  frames to handlers: hello, the op table, stream frames, acks
 *   exec.c fsops.c fswrite.c manifest.c tarops.c shell.c  the op handlers
 *   shell_pty.c  a shell's PTY, process and output ring (below shell.c)
 *   stream.c  streamed request and response bodies
 *   send.c    replies into the output queue (base/outq.h), flushed when
 *             the channel is writable
 * Every fd is a file event of the loop (base/ae.h) with its own callback:
 * the channel and the signalfd (server.c), the channel's writability
 * (send.c), the exec pipes (exec.c). */

/* ---- server.c: the connection ---- */
int agent_init(struct agent *a, int chan_fd, bool init_mode, pyro_error *err);
int agent_run(struct agent *a, pyro_error *err);
void agent_destroy(struct agent *a);

/* ---- dispatch.c ---- */
/* Handles one decoded frame from the host. */
void agent_dispatch(struct agent *a, const struct proto_frame *f);

/* ---- send.c: output queue and replies ---- */
/* Queues a frame; hdr is stolen. */
void agent_send(struct agent *a, json_t *hdr, const void *body, size_t len);
void agent_reply_ok(struct agent *a, int64_t id, json_t *result, const void *body, size_t len);
/* The reply of a request that may have changed files: with a->durable the
 * root file system is synced first, so what the reply reports survives a
 * killed VM. */
void agent_reply_durable(struct agent *a, int64_t id, json_t *result);
void agent_reply_err(struct agent *a, int64_t id, const pyro_error *err);
/* Bytes queued and not yet written. */
size_t agent_outq_pending(const struct agent *a);

/* ---- stream.c ---- */
void agent_stream_in_add(struct agent *a, struct stream_in *s);
void agent_stream_out_add(struct agent *a, struct stream_out *s);
struct stream_in *agent_stream_in_find(struct agent *a, int64_t id);
/* Unlinks the stream of id (NULL when none). */
struct stream_in *agent_stream_in_take(struct agent *a, int64_t id);
void agent_stream_in_free(struct stream_in *s);
bool agent_stream_out_busy(struct agent *a, int64_t id);
/* Adds ack credit to the response streams of id. */
void agent_stream_out_credit(struct agent *a, int64_t id, int64_t bytes);
/* Produces response chunks while credit and the output queue allow. */
void agent_streams_pump(struct agent *a);
void agent_streams_free_all(struct agent *a);

/* ---- exec.c ---- */
int op_exec(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_kill(struct agent *a, const struct proto_frame *req, pyro_error *err);
/* Reaps children after SIGCHLD. */
void exec_reap(struct agent *a);
/* Enforces deadlines, finishes jobs; returns ms until the next deadline or -1. */
int exec_tick(struct agent *a);
void exec_free_all(struct agent *a);
struct exec_job *exec_find(struct agent *a, int64_t id);

/* ---- service.c / service_ops.c (service.h) ---- */
int op_service_start(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_service_list(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_service_status(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_service_logs(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_service_stop(struct agent *a, const struct proto_frame *req, pyro_error *err);
/* A reaped child that belongs to a service (supervisor or probe): true. */
bool service_reaped(struct agent *a, pid_t pid, int status);
/* True while a start or stop request of id waits for its answer. */
bool service_request_busy(struct agent *a, int64_t id);
/* Kills every service's tree (the agent is going away). */
void service_free_all(struct agent *a);
/* ---- shell.c: PTY shells (shell.h) ---- */
int op_shell_open(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_shell_read(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_shell_write(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_shell_signal(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_shell_close(struct agent *a, const struct proto_frame *req, pyro_error *err);
/* A reaped child that may be a shell (called by exec_reap). */
void shell_reaped(struct agent *a, pid_t pid, int status);
/* True while a read of request id waits for quiet output. */
bool shell_wait_busy(struct agent *a, int64_t id);
void shell_free_all(struct agent *a);

/* ---- portfwd.c: connections of published ports ---- */
int op_port_connect(struct agent *a, const struct proto_frame *req, pyro_error *err);
/* A data, end or ack frame of a forwarded connection: handled, true. */
bool portfwd_frame(struct agent *a, const struct proto_frame *f);
bool portfwd_busy(struct agent *a, int64_t id);
void portfwd_free_all(struct agent *a);

/* ---- fsops.c / fswrite.c ---- */
int op_file_stat(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_file_list(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_file_read(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_file_write(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_fs_flush(struct agent *a, const struct proto_frame *req, pyro_error *err);

/* ---- manifest.c ---- */
int op_manifest(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_file_delete(struct agent *a, const struct proto_frame *req, pyro_error *err);

/* ---- tarops.c ---- */
int op_tar_out(struct agent *a, const struct proto_frame *req, pyro_error *err);
int op_tar_in(struct agent *a, const struct proto_frame *req, pyro_error *err);

/* ---- init.c ---- */
/* Mounts /proc, /sys, /dev, /dev/pts, /dev/shm and /run where missing. */
int init_mounts(pyro_error *err);
/* The saved gid the agent takes as init (nogroup), so that the commands
 * it runs (gid 0) do not share all its credentials (init_guard_creds). */
#define INIT_SAVED_GID 65534
/* Sets the saved gid to INIT_SAVED_GID: commands then need capabilities
 * they lack to ptrace, prlimit or read /proc of the agent. */
void init_guard_creds(void);
/* Kills everything, syncs and powers off (PID 1); does not return. */
void init_poweroff(bool flush) __attribute__((noreturn));

/* ---- init_vm.c / init_vm_net.c: PID 1 of a VM (the vm backend) ---- */
/* True when this is PID 1 of a VM: the kernel command line says pyro.vm=1
 * (mounts /proc to read it). */
bool init_vm_detect(void);
/* Loads the initramfs's modules, mounts the root image and the writable
 * disk as an overlay, switches into it, sets up the network
 * and opens the agent's virtio-serial port into *chan_fd. */
int init_vm_setup(int *chan_fd, pyro_error *err);
/* Brings lo up; with network, eth0 for QEMU's user-mode network. */
void init_vm_net(bool network);

/* ---- childio.c ---- */
/* In a forked child about to exec: its own session, stdin in_fd (-1:
 * /dev/null), stdout out_w, stderr err_w, nothing else open, cwd (exits
 * 126 when it cannot enter it). */
void childio_setup(const char *cwd, int in_fd, int out_w, int err_w);

/* ---- identity.c ---- */
/* Takes the hello's hostname, clock and entropy (a VM's agent only). */
void agent_identity_apply(const json_t *hello);

#endif
