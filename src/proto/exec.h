/* The exec request and result as C structs, shared by both ends: the host
 * packs requests and unpacks results (an untrusted reply: checked, typed,
 * bounded), pyro-agent unpacks requests and packs results.
 *
 * The result keys are declared once, in PROTO_EXEC_RESULT_FIELDS. The wire
 * codec below, the reply check (proto/reply.h) and the output schemas of
 * vm_exec, vm_run and workspace_exec (lib/vm/vm.h) are all derived from it,
 * so what is sent, what is accepted and what is published cannot drift. */
#ifndef PYRO_PROTO_EXEC_H
#define PYRO_PROTO_EXEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/shape.h"

/* Output kept per stream: the one capture limit (what the agent accepts,
 * what the host asks for, what the host accepts back). */
#define PROTO_EXEC_CAPTURE_MAX (1u * 1024 * 1024)
/* Kept per stream when a request names no limit. */
#define PROTO_EXEC_CAPTURE_DEFAULT (256u * 1024)
/* Entries of "env" and of "argv". */
#define PROTO_EXEC_ENV_MAX 4096
#define PROTO_EXEC_ARGV_MAX 65536

struct proto_exec_env {
    const char *name, *value;
};

/* Strings and arrays are borrowed: from the caller when packing, from the
 * unpacked JSON (which must outlive the request) when unpacking. */
struct proto_exec_request {
    const char *command;              /* run by /bin/sh -c; or NULL and argv */
    const char *const *argv;          /* NULL-terminated, run with execvp */
    const char *cwd;                  /* NULL: "/" */
    const struct proto_exec_env *env; /* merged over the agent's defaults */
    size_t env_count;
    int64_t timeout_ms;              /* 0: no deadline */
    uint32_t stdout_max, stderr_max; /* packing 0 asks for the default */
    void *mem_;                      /* arrays allocated by unpack */
};

/* One captured stream. text is malloc'ed, valid UTF-8 (it may hold NUL
 * bytes); replaced counts the U+FFFD substitutions made in it. */
struct proto_exec_stream {
    char *text;
    size_t len;
    bool truncated;
    int64_t dropped_bytes;
    int64_t replaced;
};

struct proto_exec_result {
    int64_t exit_code; /* exit status, or 128 + signal */
    int64_t signal;    /* the terminating signal, 0 when none */
    bool timed_out;
    int64_t duration_ms;
    int64_t pid;
    struct proto_exec_stream out, err;
};

/* The result keys: X(key, kind, presence, scope, member, min, max).
 *   kind      INT (int64_t member), BOOL (bool), TEXT (a proto_exec_stream)
 *   presence  ALWAYS, or NONZERO (sent only when the member is not 0)
 *   scope     PUBLIC (also a key of the vm_exec, vm_run and workspace_exec
 *             results), or WIRE (agent to host only)
 *   min, max  the accepted range (TEXT: bytes) */
#define PROTO_EXEC_RESULT_FIELDS(X)                                                     \
    X("exit_code", INT, ALWAYS, PUBLIC, exit_code, 0, 255)                              \
    X("stdout", TEXT, ALWAYS, PUBLIC, out, 0, PROTO_EXEC_TEXT_MAX)                      \
    X("stderr", TEXT, ALWAYS, PUBLIC, err, 0, PROTO_EXEC_TEXT_MAX)                      \
    X("stdout_truncated", BOOL, ALWAYS, PUBLIC, out.truncated, 0, 1)                    \
    X("stderr_truncated", BOOL, ALWAYS, PUBLIC, err.truncated, 0, 1)                    \
    X("stdout_dropped_bytes", INT, ALWAYS, PUBLIC, out.dropped_bytes, 0, PROTO_INT_MAX) \
    X("stderr_dropped_bytes", INT, ALWAYS, PUBLIC, err.dropped_bytes, 0, PROTO_INT_MAX) \
    X("stdout_replaced", INT, ALWAYS, PUBLIC, out.replaced, 0, PROTO_EXEC_CAPTURE_MAX)  \
    X("stderr_replaced", INT, ALWAYS, PUBLIC, err.replaced, 0, PROTO_EXEC_CAPTURE_MAX)  \
    X("timed_out", BOOL, ALWAYS, PUBLIC, timed_out, 0, 1)                               \
    X("signal", INT, NONZERO, PUBLIC, signal, 1, 64)                                    \
    X("duration_ms", INT, ALWAYS, PUBLIC, duration_ms, 0, PROTO_INT_MAX)                \
    X("pid", INT, ALWAYS, WIRE, pid, 1, INT32_MAX)

/* The longest text a capture can become: every byte invalid, each one a
 * U+FFFD of 3 bytes. */
#define PROTO_EXEC_TEXT_MAX (3 * (int64_t)PROTO_EXEC_CAPTURE_MAX)

/* The result's shape (proto/shape.h), derived from the declaration. */
extern const struct proto_shape proto_exec_result_shape;

/* Host: the request's "args" object. Never NULL. */
json_t *proto_exec_request_pack(const struct proto_exec_request *req);
/* Agent: checks and types "args" (exactly one of argv and command, strings
 * without NUL, env names without '=', timeout_ms >= 0, capture limits
 * clamped to PROTO_EXEC_CAPTURE_MAX). Free with proto_exec_request_clear. */
int proto_exec_request_unpack(const json_t *args, struct proto_exec_request *out, pyro_error *err);
void proto_exec_request_clear(struct proto_exec_request *req);

/* Agent: fills a stream from raw captured bytes (sanitised to UTF-8). */
void proto_exec_stream_set(struct proto_exec_stream *s, const char *buf, size_t len, uint64_t dropped);
/* The result's keys into obj: all of them, or only the PUBLIC ones (the
 * part of the vm_exec, vm_run and workspace_exec results that comes from
 * the agent). */
void proto_exec_result_pack(const struct proto_exec_result *r, bool public_only, json_t *obj);
/* Host: checks a reply's result against the declaration and its rules
 * (truncated iff bytes were dropped, signal and exit code agree, text no
 * longer than what req allowed; req may be NULL: the largest limit), and
 * unpack also copies it out. Any deviation is -PYRO_E_PROTOCOL and leaves
 * out empty. */
int proto_exec_result_check(const json_t *res, const struct proto_exec_request *req, pyro_error *err);
/* The rules alone, for a result whose shape was checked. */
int proto_exec_result_rules(const json_t *res, const struct proto_exec_request *req, pyro_error *err);
int proto_exec_result_unpack(const json_t *res, const struct proto_exec_request *req, struct proto_exec_result *out,
                             pyro_error *err);
void proto_exec_result_clear(struct proto_exec_result *r);

#endif
