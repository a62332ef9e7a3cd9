/* A minimal QMP client on the monitor's end of a socketpair (QEMU's fd 4):
 * blocking, one command at a time, every wait bounded by a deadline and by
 * QEMU's exit (its pidfd). QEMU runs the guest, so what it says is treated
 * as untrusted: lines are capped, parsed strictly, and only the fields
 * asked for are read. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/vm/internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"

static int qmp_fill(struct vm_qmp *q, int64_t deadline, pyro_error *err)
{
    if (q->len >= sizeof(q->buf))
        return err_set(err, -PYRO_E_PROTOCOL, "QEMU's monitor sent a line longer than %zu bytes", sizeof(q->buf));
    for (;;) {
        int left = (int)(deadline - time_mono_ms());
        if (left <= 0)
            return err_set(err, -PYRO_E_TIMEOUT, "QEMU's monitor did not answer in time");
        struct pollfd p[2] = {{.fd = q->fd, .events = POLLIN}, {.fd = q->pidfd, .events = POLLIN}};
        int pr = poll(p, q->pidfd >= 0 ? 2 : 1, left);
        if (pr < 0 && errno != EINTR)
            return err_errno(err, errno, "poll QEMU's monitor");
        if (pr <= 0)
            continue;
        if (p[0].revents) {
            ssize_t n = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
            if (n > 0) {
                q->len += (size_t)n;
                return 0;
            }
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            return err_set(err, -PYRO_E_STATE, "QEMU closed its monitor (it exited; see console.log)");
        }
        if (p[1].revents)
            return err_set(err, -PYRO_E_STATE, "QEMU exited (see console.log)");
    }
}

/* The next JSON object; an agent port's opening is noted (q->port_open)
 * on the way. */
static int qmp_next(struct vm_qmp *q, int64_t deadline, json_t **out, pyro_error *err)
{
    for (;;) {
        char *nl = memchr(q->buf, '\n', q->len);
        if (!nl) {
            int r = qmp_fill(q, deadline, err);
            if (r < 0)
                return r;
            continue;
        }
        size_t n = (size_t)(nl - q->buf);
        json_t *v = NULL;
        int r = n ? json_parse(q->buf, n, &v, err) : 0;
        memmove(q->buf, nl + 1, q->len - n - 1);
        q->len -= n + 1;
        if (r < 0)
            return err_prefix(err, "QEMU's monitor");
        if (!v)
            continue;
        const char *ev = json_get_str(v, "event", NULL);
        if (ev && !strcmp(ev, "VSERPORT_CHANGE")) {
            json_t *data = json_object_get(v, "data");
            if (!strcmp(json_get_str(data, "id", ""), VM_PORT_ID) && json_get_bool(data, "open", false))
                q->port_open = true;
        }
        if (!json_is_object(v)) {
            json_decref(v);
            return err_set(err, -PYRO_E_PROTOCOL, "QEMU's monitor sent a value that is not an object");
        }
        *out = v;
        return 0;
    }
}

int vm_qmp_open(struct vm_qmp *q, int fd, int pidfd, int timeout_ms, pyro_error *err)
{
    *q = (struct vm_qmp){.fd = fd, .pidfd = pidfd};
    int64_t deadline = time_mono_ms() + timeout_ms;
    json_auto_t *greeting = NULL;
    int r = qmp_next(q, deadline, &greeting, err);
    if (r < 0)
        return r;
    if (!json_object_get(greeting, "QMP"))
        return err_set(err, -PYRO_E_PROTOCOL, "QEMU's monitor did not greet with QMP");
    return vm_qmp_cmd(q, "qmp_capabilities", NULL, -1, timeout_ms, NULL, err);
}

int vm_qmp_cmd(struct vm_qmp *q, const char *cmd, json_t *args, int pass_fd, int timeout_ms, json_t **ret,
               pyro_error *err)
{
    json_auto_t *msg = json_pack("{s:s}", "execute", cmd);
    if (args)
        json_set(msg, "arguments", json_incref(args));
    _cleanup_free_ char *text = json_dump(msg, 0);
    size_t len = strlen(text);
    struct iovec iov = {.iov_base = text, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (pass_fd >= 0) {
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    /* A command is far below the socket buffer: one sendmsg carries it. */
    ssize_t n;
    while ((n = sendmsg(q->fd, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)len)
        return err_errno(err, n < 0 ? errno : EIO, "send %s to QEMU's monitor", cmd);
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        json_t *v = NULL;
        int r = qmp_next(q, deadline, &v, err);
        if (r < 0)
            return r;
        json_t *e = json_object_get(v, "error");
        if (e) {
            r = err_set(err, -PYRO_E_STATE, "QEMU refused %s: %.200s", cmd, json_get_str(e, "desc", "(no reason)"));
            json_decref(v);
            return r;
        }
        json_t *res = json_object_get(v, "return");
        if (res) {
            if (ret)
                *ret = json_incref(res);
            json_decref(v);
            return 0;
        }
        json_decref(v); /* an event */
    }
}

int vm_qmp_wait_port(struct vm_qmp *q, int timeout_ms, pyro_error *err)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    while (!q->port_open) {
        json_t *v = NULL;
        int r = qmp_next(q, deadline, &v, err);
        if (r == -PYRO_E_TIMEOUT)
            return err_set(err, r, "the guest did not open its agent port within %d ms", timeout_ms);
        if (r < 0)
            return r;
        json_decref(v);
    }
    return 0;
}
