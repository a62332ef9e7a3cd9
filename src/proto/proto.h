/* The agent protocol: framing shared by pyro-agent and libpyro.
 *
 * A byte stream (socketpair, unix socket or virtio-serial port) carries
 * frames. Each frame is a 12-byte prefix, a JSON header and an optional
 * binary body:
 *
 *   bytes 0..3   magic "PYA" and the protocol version byte (1)
 *   bytes 4..7   header length, u32 big endian, 2..PROTO_HEADER_MAX
 *   bytes 8..11  body length, u32 big endian, 0..PROTO_BODY_MAX
 *   header       one JSON object, UTF-8 (see docs/agent-protocol.md)
 *   body         raw bytes
 *
 * Every header has "t" (the frame type) and "id" (the request id it
 * belongs to). Nothing here is specific to sockets: no fd passing, no
 * message boundaries assumed from the transport. */
#ifndef PYRO_AGENT_PROTO_H
#define PYRO_AGENT_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define PROTO_MAGIC0 'P'
#define PROTO_MAGIC1 'Y'
#define PROTO_MAGIC2 'A'
#define PROTO_VERSION 1
/* Random bytes in the monitor's hello ("entropy", hex): a VM's fresh seed. */
#define PROTO_HELLO_ENTROPY 64
#define PROTO_PREFIX_LEN 12u
#define PROTO_HEADER_MAX (16u * 1024 * 1024)
#define PROTO_BODY_MAX (1u * 1024 * 1024)
/* Size of the data chunks streams are cut into. */
#define PROTO_CHUNK (64u * 1024)
/* Bytes a stream's sender may have unacknowledged ("ack" frames). */
#define PROTO_WINDOW (1u * 1024 * 1024)
/* Request ids are positive and fit a JSON double exactly. */
#define PROTO_ID_MAX ((int64_t)1 << 53)

enum proto_type {
    PROTO_HELLO = 1, /* handshake, both directions, id 0 */
    PROTO_REQ,       /* host -> agent: {op, args[, stream]} */
    PROTO_RESP,      /* agent -> host: {ok, result | error}; ends the request */
    PROTO_DATA,      /* a chunk of a streamed body, either direction */
    PROTO_END,       /* host -> agent: end of a streamed request body */
    PROTO_ACK,       /* receiver of a stream grants {bytes} more credit */
};

/* A decoded frame. hdr is owned (json_decref); body points into a
 * malloc'ed buffer owned by the frame. */
struct proto_frame {
    json_t *hdr;
    enum proto_type type;
    int64_t id;
    const char *op; /* PROTO_REQ only; points into hdr */
    uint8_t *body;
    size_t body_len;
};

void proto_frame_clear(struct proto_frame *f);

const char *proto_type_name(enum proto_type t);
int proto_type_parse(const char *s);

/* Encodes the 12-byte prefix. */
void proto_prefix_encode(uint8_t out[PROTO_PREFIX_LEN], uint32_t hdr_len, uint32_t body_len);
/* Validates magic, version and both lengths. */
int proto_prefix_decode(const uint8_t in[PROTO_PREFIX_LEN], uint32_t *hdr_len, uint32_t *body_len, pyro_error *err);
/* Parses and validates a header: an object with a known "t", an integer
 * "id" in [0, PROTO_ID_MAX), and for requests a string "op". Fills f->hdr,
 * type, id, op. */
int proto_header_decode(const char *buf, size_t len, struct proto_frame *f, pyro_error *err);

/* Serialises hdr (which must carry "t" and "id") and body into one
 * malloc'ed frame. -PYRO_E_PROTOCOL when either part is too large. */
int proto_frame_encode(const json_t *hdr, const void *body, size_t body_len, uint8_t **out, size_t *out_len,
                       pyro_error *err);

/* Decodes one frame from the front of buf. Returns 1 and sets *used when a
 * whole frame was decoded, 0 when more bytes are needed, negative
 * (-PYRO_E_PROTOCOL) when the bytes can never form a valid frame. */
int proto_frame_decode(const uint8_t *buf, size_t len, struct proto_frame *f, size_t *used, pyro_error *err);

/* Incremental reader over a byte stream. */
struct proto_reader {
    uint8_t *buf;
    size_t len, cap;
};

void proto_reader_free(struct proto_reader *r);
/* One read(2) into the buffer. Returns bytes read (> 0), 0 at EOF, -EAGAIN
 * when nothing is available on a non-blocking fd, or -errno. EINTR is
 * retried. */
ssize_t proto_reader_fill(struct proto_reader *r, int fd);
/* Appends bytes (for transports that do their own reading, and the fuzzer). */
void proto_reader_push(struct proto_reader *r, const void *data, size_t len);
/* Like proto_frame_decode on the buffered bytes; consumes the frame. */
int proto_reader_next(struct proto_reader *r, struct proto_frame *f, pyro_error *err);

/* Header constructors: {"t": type, "id": id}. Never NULL. */
json_t *proto_header_new(enum proto_type type, int64_t id);

/* Writes all of buf to a blocking or non-blocking fd, waiting with poll
 * for writability, retrying EINTR and short writes. timeout_ms < 0 waits
 * forever. */
int proto_write_all(int fd, const void *buf, size_t len, int timeout_ms, pyro_error *err);

/* Error objects carried in responses: {"code": <negative int>, "name":
 * "enoent", "message": "..."}. */
json_t *proto_error_new(int code, const char *message);
/* Converts a response error object into a pyro_error; returns its code
 * (always negative, -PYRO_E_PROTOCOL when the object is malformed). */
int proto_error_to_err(const json_t *error, pyro_error *err);

#endif
