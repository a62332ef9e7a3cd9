/* PTY shells of the agent (docs/agent-protocol.md, "Shells"): the state of
 * one shell and its pieces. shell.c holds the ops and the reads that wait
 * for quiet output; shell_pty.c the PTY, the process and the output ring.
 * shell.c calls shell_pty.c, never the other way round. */
#ifndef PYRO_AGENT_SHELL_H
#define PYRO_AGENT_SHELL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

/* Shells one agent keeps at once (open or ended but not closed). */
#define SHELL_MAX 8
/* Output kept per shell: a ring of the last SHELL_RING bytes. */
#define SHELL_RING (1024u * 1024)
/* Input queued for the PTY and not yet taken by it. */
#define SHELL_INPUT_MAX (256u * 1024)
/* A read's wait_for_idle_ms, and the longest any read waits (a shell that
 * never goes quiet answers at this deadline). */
#define SHELL_IDLE_MAX_MS 10000
#define SHELL_WAIT_MAX_MS 30000
#define SHELL_DIM_MAX 1000

/* The last SHELL_RING bytes of a stream, addressed by absolute offsets:
 * bytes [start, end) are kept, byte o at buf[o % SHELL_RING]. */
struct shell_ring {
    uint8_t *buf;
    uint64_t start, end;
};

struct agent;
struct shell;

/* A read waiting for the output to go quiet (wait_for_idle_ms). */
struct shell_wait {
    struct shell_wait *next;
    struct agent *agent;
    struct shell *shell;
    int64_t timer;
    int64_t id; /* the request's */
    uint64_t cursor;
    size_t max;
    int idle_ms;
    int64_t begin_ms, deadline_ms;
};

struct shell {
    struct shell *next;
    char id[16]; /* "shell-N" */
    int master;  /* the PTY master, -1 once the PTY hung up */
    pid_t pid;   /* the shell: session leader, its own process group */
    bool exited;
    int status;
    int cols, rows;
    char *cwd;
    int64_t started_ms; /* wall clock */
    int64_t last_output_ms;
    struct shell_ring out;
    /* Input not yet written to the master. */
    uint8_t *in;
    size_t in_len;
    struct shell_wait *waits;
};

/* ---- shell_pty.c ---- */
/* Opens a PTY of cols x rows and starts /bin/bash -i (or /bin/sh -i) as a
 * session leader with it as controlling terminal, in cwd, with envp.
 * Fills sh->master (non-blocking) and sh->pid. */
int shell_pty_spawn(struct shell *sh, char **envp, pyro_error *err);
/* Appends output to the ring (dropping the oldest bytes past SHELL_RING). */
void shell_ring_put(struct shell_ring *r, const uint8_t *data, size_t len);
/* Copies at most max bytes from *cursor into a new buffer (*out, *len):
 * a cursor older than the ring starts at the oldest kept byte (*truncated),
 * and the end does not cut a UTF-8 sequence when it can be avoided. */
void shell_ring_get(const struct shell_ring *r, uint64_t *cursor, size_t max, uint8_t **out, size_t *len,
                    bool *truncated);
/* Writes queued input while the PTY takes it; returns 0 or -errno. */
int shell_pty_flush_input(struct shell *sh);
/* The foreground process group of the PTY (the shell's own when the PTY
 * is gone or says nothing). */
pid_t shell_pty_foreground(const struct shell *sh);
/* SIGKILLs every process of the shell's session. */
void shell_pty_kill_session(const struct shell *sh);

#endif
