/* Host side of the agent protocol (docs/agent-protocol.md): one connection
 * over a channel fd, the hello handshake, requests with ids so several can
 * be in flight, and streamed bodies (tar out to a sink, tar/file data in
 * from a source) with window/ack flow control.
 *
 * A connection is not thread-safe: use it from one thread (the monitor's
 * event loop) or behind a lock. Frames that arrive for other requests while
 * one waits are kept for their owners, so agent_send_request + agent_wait
 * may interleave freely. */
#ifndef PYRO_AGENT_CLIENT_H
#define PYRO_AGENT_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

struct agent_conn;

/* A response body; data is malloc'ed (free with agent_body_free). */
struct agent_body {
    uint8_t *data;
    size_t len;
};
void agent_body_free(struct agent_body *b);

/* Receives streamed bytes; returns 0 or a negative code (the stream is
 * still drained, and the code is returned at the end). */
typedef int (*agent_sink_fn)(void *userdata, const void *buf, size_t len, pyro_error *err);
/* Supplies bytes to stream; returns bytes (> 0), 0 at the end, or < 0. */
typedef ssize_t (*agent_source_fn)(void *userdata, void *buf, size_t cap, pyro_error *err);
/* Ready-made sink/source over an fd; userdata points at the int fd. */
int agent_sink_fd(void *userdata, const void *buf, size_t len, pyro_error *err);
ssize_t agent_source_fd(void *userdata, void *buf, size_t cap, pyro_error *err);

/* Takes ownership of fd (closed by agent_conn_close, also on failure) and
 * performs the handshake within timeout_ms. */
int agent_conn_open(int fd, int timeout_ms, struct agent_conn **out, pyro_error *err);
void agent_conn_close(struct agent_conn *c);
/* The agent's hello header: version, agent, ops, reserved_ops, caps,
 * limits, pid, init. */
const json_t *agent_conn_hello(const struct agent_conn *c);
bool agent_conn_has_op(const struct agent_conn *c, const char *op);

/* Every reply is untrusted input: before a result reaches the caller it
 * is checked against its op's declaration (proto/reply.h): key set, types,
 * integer ranges, string lengths and UTF-8, body length. A malformed reply
 * fails the request with -PYRO_E_PROTOCOL ("agent: malformed reply to
 * <op>: <field>: <what>"); the connection stays usable. */
/* The one place a response header becomes a result: "ok" false gives the
 * agent's error, "ok" true a result checked for op (body_len: the bytes of
 * the response body). *result (optional) gets a reference. */
int agent_reply_unpack(const char *op, const json_t *resp, size_t body_len, json_t **result, pyro_error *err);

/* Sends req ({"op": name, "args": {...}}) with an optional body of at most
 * PROTO_BODY_MAX bytes; *id gets the request id. */
int agent_send_request(struct agent_conn *c, const json_t *req, const void *body, size_t len, int64_t *id,
                       pyro_error *err);
/* Waits for the response to id. On success *resp (optional) gets the
 * result object and *resp_body (optional) the body. An error response is
 * returned as its code with the agent's message. On timeout
 * (-PYRO_E_TIMEOUT) the request is abandoned: its late answer is dropped. */
int agent_wait(struct agent_conn *c, int64_t id, json_t **resp, struct agent_body *resp_body, int timeout_ms,
               pyro_error *err);
/* agent_send_request + agent_wait; bodies over PROTO_BODY_MAX are streamed. */
int agent_call(struct agent_conn *c, const json_t *req, const void *body, size_t len, json_t **resp,
               struct agent_body *resp_body, int timeout_ms, pyro_error *err);
/* A request whose response body is streamed (tar_out): chunks go to sink,
 * acknowledged as they are consumed. */
int agent_call_stream_out(struct agent_conn *c, const json_t *req, agent_sink_fn sink, void *userdata, json_t **resp,
                          int timeout_ms, pyro_error *err);
/* A request whose body is streamed from source (tar_in, large file_write),
 * at most one window ahead of the agent's acks. */
int agent_call_stream_in(struct agent_conn *c, const json_t *req, agent_source_fn source, void *userdata, json_t **resp,
                         int timeout_ms, pyro_error *err);

#endif
