#include "instance_call.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "../agent/proto.h"
#include "cleanup.h"
#include "json.h"
#include "timeutil.h"

static int send_header(int fd, json_t *h, pyro_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int r = proto_frame_encode(h, NULL, 0, &buf, &len, err);
    if (r == 0)
        r = proto_write_all(fd, buf, len, 10000, err);
    free(buf);
    return r;
}

/* Reads frames until one of type want (and id, for responses) arrives. */
static int wait_frame(int fd, struct proto_reader *rd, enum proto_type want, int64_t id, int64_t deadline,
                      struct proto_frame *out, pyro_error *err)
{
    for (;;) {
        struct proto_frame f = {0};
        int r = proto_reader_next(rd, &f, err);
        if (r < 0)
            return r;
        if (r > 0) {
            if (f.type == want && (want == PROTO_HELLO || f.id == id)) {
                *out = f;
                return 0;
            }
            proto_frame_clear(&f);
            continue;
        }
        int left = deadline < 0 ? -1 : (int)(deadline - pyro_mono_ms());
        if (deadline >= 0 && left <= 0)
            return pyro_err_set(err, -PYRO_E_TIMEOUT, "no answer from the sandbox in time");
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, left);
        if (pr < 0 && errno != EINTR)
            return pyro_err_errno(err, errno, "poll");
        if (pr <= 0)
            continue;
        ssize_t n = proto_reader_fill(rd, fd);
        if (n == 0)
            return pyro_err_set(err, -PYRO_E_STATE, "the sandbox went away during the request");
        if (n < 0 && n != -EAGAIN)
            return pyro_err_errno(err, (int)-n, "read control socket");
    }
}

int instance_call(const struct instance *inst, const char *op, json_t *args, int timeout_ms, json_t **result,
                  pyro_error *err)
{
    _cleanup_close_ int fd = instance_connect(inst, err);
    if (fd < 0)
        return fd;
    struct proto_reader rd = {0};
    int64_t deadline = timeout_ms < 0 ? -1 : pyro_mono_ms() + timeout_ms;
    struct proto_frame f = {0};
    json_auto_t *hello = proto_header_new(PROTO_HELLO, 0);
    pyro_json_set(hello, "version", json_integer(PROTO_VERSION));
    int r = send_header(fd, hello, err);
    if (r == 0)
        r = wait_frame(fd, &rd, PROTO_HELLO, 0, deadline, &f, err);
    if (r == 0) {
        proto_frame_clear(&f);
        json_auto_t *req = proto_header_new(PROTO_REQ, 1);
        pyro_json_set(req, "op", json_string(op));
        pyro_json_set(req, "args", json_incref(args));
        r = send_header(fd, req, err);
    }
    if (r == 0)
        r = wait_frame(fd, &rd, PROTO_RESP, 1, deadline, &f, err);
    proto_reader_free(&rd);
    if (r < 0)
        return r;
    if (!pyro_json_get_bool(f.hdr, "ok", false)) {
        r = proto_error_to_err(json_object_get(f.hdr, "error"), err);
        proto_frame_clear(&f);
        return r;
    }
    json_t *res = json_object_get(f.hdr, "result");
    *result = res ? json_incref(res) : json_object();
    proto_frame_clear(&f);
    return 0;
}
