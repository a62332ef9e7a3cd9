/* What every op answers, declared once (docs/agent-protocol.md): the shape
 * of its result, whether a body may come with it, and the rules that tie
 * its fields together. The host checks each reply here before any code
 * reads it (lib/vm/agent_client.c); the unit tests hold the agent to the
 * same declarations. */
#ifndef PYRO_PROTO_REPLY_H
#define PYRO_PROTO_REPLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "proto/shape.h"

/* Entries file_list and manifest return at most (a request may ask for
 * fewer). */
#define PROTO_LIST_MAX 100000
#define PROTO_MANIFEST_MAX 200000

struct proto_reply {
    const char *op;
    const struct proto_shape *shape;
    bool body; /* the response may carry a body (file_read) */
    /* Rules beyond the shape, or NULL. */
    int (*rules)(const json_t *result, size_t body_len, pyro_error *err);
};

/* NULL when op has no declared reply. */
const struct proto_reply *proto_reply_find(const char *op);
/* Checks a successful response's result and body length for op. A reply
 * to an op without a declaration is refused. -PYRO_E_PROTOCOL with the
 * offending field named. */
int proto_reply_check(const char *op, const json_t *result, size_t body_len, pyro_error *err);
/* Checks a hello header from the agent (or the monitor in front of it). */
int proto_hello_check(const json_t *hello, pyro_error *err);

#endif
