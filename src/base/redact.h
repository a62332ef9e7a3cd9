/* Redaction of secret values (docs/workspaces.md "Secrets"): every
 * occurrence of a value becomes REDACT_MASK. One module, used by every
 * output path: whole texts, windows of a stream (shell reads, log tails,
 * output cut at a capture limit) and JSON results.
 *
 * Overlapping and adjacent occurrences (of one value or of several) merge
 * into one masked run, replaced by one mask. Streams: a value split
 * between two reads is found by holding back the tail that could start a
 * value (redact_holdback) and looking back before the next read's start;
 * a window cut at its start or end (REDACT_CUT_START, REDACT_CUT_END) also
 * masks a leading part that could end a value and a trailing part that
 * could begin one. Values are literal bytes: an encoded or transformed
 * value (base64, reversed) is not recognised. */
#ifndef PYRO_REDACT_H
#define PYRO_REDACT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define REDACT_MASK "[REDACTED]"
/* Bounds of a value (bytes): shorter values would mask ordinary output. */
#define REDACT_VALUE_MIN 8
#define REDACT_VALUE_MAX 4096
#define REDACT_VALUES_MAX 32

enum {
    REDACT_CUT_START = 1u << 0, /* the window starts inside the stream */
    REDACT_CUT_END = 1u << 1,   /* the stream goes on (or was cut) after the window */
};

struct redact;

struct redact *redact_new(void);
void redact_free(struct redact *r);
/* Adds a value (copied). -EINVAL outside the length bounds, -E2BIG past
 * REDACT_VALUES_MAX; a value already present is accepted once. */
int redact_add(struct redact *r, const char *value, size_t len);
/* Values held (0 for NULL). */
size_t redact_count(const struct redact *r);
/* The longest value's length (0 without values). */
size_t redact_max_len(const struct redact *r);

/* Redacts the window buf[0,len) and returns, malloc'ed and NUL-terminated,
 * the redacted form of its part [from,to): bytes outside masked runs as
 * they are, one mask for each masked run that meets [from,to). *out_len
 * gets the length. r may be NULL or empty (a plain copy). */
char *redact_range(const struct redact *r, const char *buf, size_t len, size_t from, size_t to, unsigned flags,
                   size_t *out_len);
/* The whole window. */
char *redact_text(const struct redact *r, const char *buf, size_t len, unsigned flags, size_t *out_len);
/* How many bytes at the end of buf[0,len) could begin a value (the longest
 * suffix that is a proper prefix of one): a stream that goes on emits up
 * to len minus this and keeps the rest for the next read. */
size_t redact_holdback(const struct redact *r, const char *buf, size_t len);
/* A copy of v with every string and object key redacted (a new reference;
 * v itself when r has no values). */
json_t *redact_json(const struct redact *r, json_t *v);
/* Redacts a NUL-terminated message in place (an error message), bounded by
 * its buffer size cap. */
void redact_message(const struct redact *r, char *msg, size_t cap);

/* A stream redacted as it arrives: what may still grow into a value is
 * kept back until more comes or the stream ends. */
struct redact_stream {
    const struct redact *r;
    char *held;      /* lookback (already emitted) + pending */
    size_t held_len; /* bytes in held */
    size_t look;     /* of which the lookback */
};
/* Returns the redacted output that is final after data (malloc'ed). */
char *redact_stream_feed(struct redact_stream *s, const char *data, size_t len, size_t *out_len);
/* The end of the stream: the rest, redacted; frees what was held. cut says
 * the stream was cut there (its held tail is then masked). */
char *redact_stream_finish(struct redact_stream *s, bool cut, size_t *out_len);

#endif
