#include "proto/proto.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "proto/shape.h"

static const char *const type_names[] = {
    [PROTO_HELLO] = "hello", [PROTO_REQ] = "req", [PROTO_RESP] = "resp",
    [PROTO_DATA] = "data",   [PROTO_END] = "end", [PROTO_ACK] = "ack",
};

const char *proto_type_name(enum proto_type t)
{
    if ((size_t)t < ARRAY_SIZE(type_names) && type_names[t])
        return type_names[t];
    return "?";
}

int proto_type_parse(const char *s)
{
    for (size_t i = 1; i < ARRAY_SIZE(type_names); i++)
        if (type_names[i] && strcmp(type_names[i], s) == 0)
            return (int)i;
    return -1;
}

void proto_frame_clear(struct proto_frame *f)
{
    if (!f)
        return;
    json_decref(f->hdr);
    free(f->body);
    memset(f, 0, sizeof(*f));
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void proto_prefix_encode(uint8_t out[PROTO_PREFIX_LEN], uint32_t hdr_len, uint32_t body_len)
{
    out[0] = PROTO_MAGIC0;
    out[1] = PROTO_MAGIC1;
    out[2] = PROTO_MAGIC2;
    out[3] = PROTO_VERSION;
    put_u32(out + 4, hdr_len);
    put_u32(out + 8, body_len);
}

int proto_prefix_decode(const uint8_t in[PROTO_PREFIX_LEN], uint32_t *hdr_len, uint32_t *body_len, pyro_error *err)
{
    if (in[0] != PROTO_MAGIC0 || in[1] != PROTO_MAGIC1 || in[2] != PROTO_MAGIC2)
        return err_set(err, -PYRO_E_PROTOCOL, "agent frame: bad magic %02x %02x %02x", in[0], in[1], in[2]);
    if (in[3] != PROTO_VERSION)
        return err_set(err, -PYRO_E_PROTOCOL, "agent frame: unsupported version %u", in[3]);
    uint32_t h = get_u32(in + 4), b = get_u32(in + 8);
    if (h < 2 || h > PROTO_HEADER_MAX)
        return err_set(err, -PYRO_E_PROTOCOL, "agent frame: header length %u out of range", h);
    if (b > PROTO_BODY_MAX)
        return err_set(err, -PYRO_E_PROTOCOL, "agent frame: body length %u over %u", b, PROTO_BODY_MAX);
    *hdr_len = h;
    *body_len = b;
    return 0;
}

int proto_header_decode(const char *buf, size_t len, struct proto_frame *f, pyro_error *err)
{
    json_error_t jerr;
    json_t *hdr = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);

    if (!hdr)
        return err_set(err, -PYRO_E_PROTOCOL, "agent frame: header: %s at %d", jerr.text, jerr.position);
    if (!json_is_object(hdr)) {
        json_decref(hdr);
        return err_set(err, -PYRO_E_PROTOCOL, "agent frame: header is not an object");
    }
    const json_t *t = json_object_get(hdr, "t"), *id = json_object_get(hdr, "id");
    int type = json_is_string(t) ? proto_type_parse(json_string_value(t)) : -1;
    if (type < 0) {
        json_decref(hdr);
        return err_set(err, -PYRO_E_PROTOCOL, "agent frame: missing or unknown \"t\"");
    }
    if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= PROTO_ID_MAX) {
        json_decref(hdr);
        return err_set(err, -PYRO_E_PROTOCOL, "agent frame: missing or invalid \"id\"");
    }
    const char *op = NULL;
    if (type == PROTO_REQ) {
        op = json_string_value(json_object_get(hdr, "op"));
        if (!op || !*op) {
            json_decref(hdr);
            return err_set(err, -PYRO_E_PROTOCOL, "agent frame: request without \"op\"");
        }
        const json_t *args = json_object_get(hdr, "args");
        if (args && !json_is_object(args)) {
            json_decref(hdr);
            return err_set(err, -PYRO_E_PROTOCOL, "agent frame: \"args\" is not an object");
        }
    }
    f->hdr = hdr;
    f->type = (enum proto_type)type;
    f->id = json_integer_value(id);
    f->op = op;
    return 0;
}

int proto_frame_encode(const json_t *hdr, const void *body, size_t body_len, uint8_t **out, size_t *out_len,
                       pyro_error *err)
{
    if (body_len > PROTO_BODY_MAX)
        return err_set(err, -PYRO_E_PROTOCOL, "agent frame: body of %zu bytes over %u", body_len, PROTO_BODY_MAX);
    _cleanup_free_ char *text = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return err_set(err, -PYRO_E_PROTOCOL, "agent frame: header cannot be serialised");
    size_t hlen = strlen(text);
    if (hlen > PROTO_HEADER_MAX)
        return err_set(err, -PYRO_E_PROTOCOL, "agent frame: header of %zu bytes over %u", hlen, PROTO_HEADER_MAX);
    uint8_t *buf = xmalloc(PROTO_PREFIX_LEN + hlen + body_len);
    proto_prefix_encode(buf, (uint32_t)hlen, (uint32_t)body_len);
    memcpy(buf + PROTO_PREFIX_LEN, text, hlen);
    if (body_len)
        memcpy(buf + PROTO_PREFIX_LEN + hlen, body, body_len);
    *out = buf;
    *out_len = PROTO_PREFIX_LEN + hlen + body_len;
    return 0;
}

int proto_frame_decode(const uint8_t *buf, size_t len, struct proto_frame *f, size_t *used, pyro_error *err)
{
    uint32_t hlen, blen;
    int r;

    memset(f, 0, sizeof(*f));
    if (len == 0)
        return 0;
    if (len < PROTO_PREFIX_LEN) {
        /* Reject garbage as early as the magic allows. */
        const uint8_t magic[4] = {PROTO_MAGIC0, PROTO_MAGIC1, PROTO_MAGIC2, PROTO_VERSION};
        if (memcmp(buf, magic, len < 4 ? len : 4) != 0)
            return err_set(err, -PYRO_E_PROTOCOL, "agent frame: bad magic");
        return 0;
    }
    r = proto_prefix_decode(buf, &hlen, &blen, err);
    if (r < 0)
        return r;
    size_t total = PROTO_PREFIX_LEN + (size_t)hlen + blen;
    if (len < total)
        return 0;
    r = proto_header_decode((const char *)buf + PROTO_PREFIX_LEN, hlen, f, err);
    if (r < 0)
        return r;
    if (blen) {
        f->body = xmalloc(blen);
        memcpy(f->body, buf + PROTO_PREFIX_LEN + hlen, blen);
        f->body_len = blen;
    }
    *used = total;
    return 1;
}

void proto_reader_free(struct proto_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

static void reader_reserve(struct proto_reader *r, size_t more)
{
    if (r->cap - r->len >= more)
        return;
    size_t cap = r->cap ? r->cap : 4096;
    while (cap - r->len < more)
        cap *= 2;
    r->buf = xrealloc(r->buf, cap);
    r->cap = cap;
}

ssize_t proto_reader_fill(struct proto_reader *r, int fd)
{
    reader_reserve(r, 65536);
    for (;;) {
        ssize_t n = read(fd, r->buf + r->len, r->cap - r->len);
        if (n >= 0) {
            r->len += (size_t)n;
            return n;
        }
        if (errno == EINTR)
            continue;
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

void proto_reader_push(struct proto_reader *r, const void *data, size_t len)
{
    if (!len)
        return;
    reader_reserve(r, len);
    memcpy(r->buf + r->len, data, len);
    r->len += len;
}

int proto_reader_next(struct proto_reader *r, struct proto_frame *f, pyro_error *err)
{
    size_t used = 0;
    int ret = proto_frame_decode(r->buf, r->len, f, &used, err);
    if (ret <= 0)
        return ret;
    memmove(r->buf, r->buf + used, r->len - used);
    r->len -= used;
    /* Give back memory after a large frame. */
    if (r->cap > (1u << 20) && r->len < (1u << 16)) {
        r->cap = r->len > 4096 ? r->len : 4096;
        r->buf = xrealloc(r->buf, r->cap);
    }
    return 1;
}

json_t *proto_header_new(enum proto_type type, int64_t id)
{
    json_t *h = json_object();
    if (!h)
        abort();
    json_set(h, "t", json_string(proto_type_name(type)));
    json_set(h, "id", json_integer(id));
    return h;
}

int proto_write_all(int fd, const void *buf, size_t len, int timeout_ms, pyro_error *err)
{
    const uint8_t *p = buf;
    int64_t deadline = timeout_ms < 0 ? -1 : time_mono_ms() + timeout_ms;

    while (len) {
        ssize_t n = write(fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return err_errno(err, errno, "agent channel: write");
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - time_mono_ms();
            if (left <= 0)
                return err_set(err, -PYRO_E_TIMEOUT, "agent channel: write timed out");
            wait = (int)left;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
            return err_errno(err, errno, "agent channel: poll");
    }
    return 0;
}

json_t *proto_error_new(int code, const char *message)
{
    json_t *e = json_object();
    if (!e)
        abort();
    json_set(e, "code", json_integer(code));
    json_set(e, "name", json_string(pyro_error_name(code)));
    json_set(e, "message", json_bytes(message, strlen(message), NULL));
    return e;
}

int proto_error_to_err(const json_t *error, pyro_error *err)
{
    const json_t *code = json_object_get(error, "code");
    const char *msg = json_string_value(json_object_get(error, "message"));
    if (!json_is_integer(code) || json_integer_value(code) >= 0 || json_integer_value(code) < -100000 || !msg)
        return err_set(err, -PYRO_E_PROTOCOL, "agent: malformed error response");
    /* Cut on a character boundary: the message travels on in JSON. */
    size_t len = json_string_length(json_object_get(error, "message"));
    return err_set(err, (int)json_integer_value(code), "agent: %.*s", (int)proto_text_cut(msg, len, 900), msg);
}
