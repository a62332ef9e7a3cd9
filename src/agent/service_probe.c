/* Readiness probes. Each attempt runs in a child process in its own
 * session, so that the agent's loop never blocks and a probe that hangs
 * (a command, a server that accepts and never answers) is killed with its
 * whole group at its deadline:
 *   file     the path exists
 *   tcp      host:port accepts a connection (inside the instance)
 *   http     GET url answers 2xx or 3xx: a small HTTP/1.0 client, numeric
 *            addresses and "localhost" only, the status line bounded
 *   command  /bin/sh -c command exits 0 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/service.h"
#include "base/cleanup.h"
#include "base/proc.h"
#include "base/timeutil.h"

#define PROBE_TARGET_MAX 4096

static const char *const names[] = {"none", "file", "tcp", "http", "command"};

const char *service_probe_name(enum service_probe_type t)
{
    return names[t];
}

/* "host:port" or "[v6]:port" into an address; host is an IP literal or
 * "localhost". */
static int parse_hostport(const char *s, size_t len, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[64];
    const char *colon;
    size_t hl;
    if (len && s[0] == '[') {
        const char *e = memchr(s, ']', len);
        if (!e || (size_t)(e - s) + 1 >= len || e[1] != ':')
            return -1;
        hl = (size_t)(e - s - 1);
        if (hl >= sizeof(host))
            return -1;
        memcpy(host, s + 1, hl);
        colon = e + 1;
    } else {
        colon = NULL;
        for (size_t i = 0; i < len; i++)
            if (s[i] == ':')
                colon = s + i;
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
        if (hl == 0 || hl >= sizeof(host))
            return -1;
        memcpy(host, s, hl);
    }
    host[hl] = '\0';
    size_t pl = len - (size_t)(colon + 1 - s);
    if (pl == 0 || pl > 5)
        return -1;
    long port = 0;
    for (size_t i = 0; i < pl; i++) {
        char c = colon[1 + i];
        if (c < '0' || c > '9')
            return -1;
        port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535)
        return -1;
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (!strcmp(host, "localhost"))
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *sl = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *sl = sizeof(*in6);
        return 0;
    }
    return -1;
}

/* http://host:port/path (port 80 when omitted): the address, and the
 * offset of the path ("" means "/"). */
static int parse_url(const char *url, struct sockaddr_storage *ss, socklen_t *sl, const char **path)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    size_t len = slash ? (size_t)(slash - h) : strlen(h);
    *path = slash ? slash : "/";
    char buf[80];
    const char *hp = h;
    bool has_port = len && h[len - 1] != ']' && memchr(h, ':', len) &&
                    (h[0] != '[' || (memchr(h, ']', len) && ((const char *)memchr(h, ']', len))[1] == ':'));
    if (!has_port) {
        if (len + 4 > sizeof(buf))
            return -1;
        memcpy(buf, h, len);
        memcpy(buf + len, ":80", 4);
        hp = buf;
        len += 3;
    }
    for (const char *p = *path; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return -1;
    return parse_hostport(hp, len, ss, sl);
}

int service_probe_parse(const char *type, const char *target, const char *cwd, struct service_probe *p, pyro_error *err)
{
    memset(p, 0, sizeof(*p));
    if (!type)
        return 0;
    enum service_probe_type t = PROBE_NONE;
    for (size_t i = 1; i < ARRAY_SIZE(names); i++)
        if (!strcmp(type, names[i]))
            t = (enum service_probe_type)i;
    if (t == PROBE_NONE)
        return err_set(err, -PYRO_E_INVALID, "readiness type '%.32s' is not file, tcp, http or command", type);
    if (!target || !*target || strlen(target) > PROBE_TARGET_MAX)
        return err_set(err, -PYRO_E_INVALID, "readiness %s needs a target of 1 to %d bytes", names[t],
                       PROBE_TARGET_MAX);
    struct sockaddr_storage ss;
    socklen_t sl;
    const char *path;
    if (t == PROBE_TCP && parse_hostport(target, strlen(target), &ss, &sl) < 0)
        return err_set(err, -PYRO_E_INVALID,
                       "readiness tcp address '%.256s' is not HOST:PORT (an IP address or localhost, port "
                       "1-65535)",
                       target);
    if (t == PROBE_HTTP && parse_url(target, &ss, &sl, &path) < 0)
        return err_set(err, -PYRO_E_INVALID,
                       "readiness http url '%.256s' is not http://HOST[:PORT]/PATH (an IP address or "
                       "localhost, port 1-65535)",
                       target);
    p->type = t;
    if (t == PROBE_FILE && target[0] != '/')
        p->target = xasprintf("%s/%s", cwd, target);
    else
        p->target = xstrdup(target);
    return 0;
}

void service_probe_clear(struct service_probe *p)
{
    free(p->target);
    p->target = NULL;
    p->type = PROBE_NONE;
}

static int connect_bounded(const struct sockaddr_storage *ss, socklen_t sl, int64_t deadline)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)ss, sl) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    int left = (int)(deadline - time_mono_ms());
    int e = 0;
    socklen_t el = sizeof(e);
    if (left <= 0 || poll(&pf, 1, left) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e) {
        close(fd);
        return -1;
    }
    return fd;
}

/* GET path over fd: 0 when the status is 2xx or 3xx. */
static int http_get(int fd, const char *target, const char *path, int64_t deadline)
{
    char req[2 * PROBE_TARGET_MAX + 128];
    const char *host = target + 7;
    int hl = (int)strcspn(host, "/");
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %.*s\r\nUser-Agent: pyro-agent\r\n\r\n", path, hl,
                     host);
    for (int off = 0; off < n;) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int left = (int)(deadline - time_mono_ms());
        if (left <= 0 || poll(&pf, 1, left) != 1)
            return -1;
        ssize_t w = write(fd, req + off, (size_t)(n - off));
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        off += w > 0 ? (int)w : 0;
    }
    char buf[64];
    size_t got = 0;
    while (got < 12) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - time_mono_ms());
        if (left <= 0 || poll(&pf, 1, left) != 1)
            return -1;
        ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (r == 0)
            break;
        if (r < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        got += r > 0 ? (size_t)r : 0;
    }
    buf[got] = '\0';
    int code;
    if (strncmp(buf, "HTTP/1.", 7) != 0 || sscanf(buf + 8, " %3d", &code) != 1)
        return -1;
    return code >= 200 && code < 400 ? 0 : -1;
}

static int probe_run(const struct service_probe *p, int timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    struct sockaddr_storage ss;
    socklen_t sl;
    const char *path = "/";
    struct stat st;
    int fd, r;
    switch (p->type) {
    case PROBE_FILE: return stat(p->target, &st) == 0 ? 0 : 1;
    case PROBE_TCP:
        if (parse_hostport(p->target, strlen(p->target), &ss, &sl) < 0)
            return 1;
        fd = connect_bounded(&ss, sl, deadline);
        if (fd < 0)
            return 1;
        close(fd);
        return 0;
    case PROBE_HTTP:
        if (parse_url(p->target, &ss, &sl, &path) < 0)
            return 1;
        fd = connect_bounded(&ss, sl, deadline);
        if (fd < 0)
            return 1;
        r = http_get(fd, p->target, path, deadline);
        close(fd);
        return r == 0 ? 0 : 1;
    case PROBE_NONE:
    case PROBE_COMMAND:
    default: return 1;
    }
}

pid_t service_probe_spawn(const struct service_probe *p, const char *cwd, int timeout_ms)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid < 0 ? -errno : pid;
    proc_signals_default();
    (void)setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    close_range(3, ~0U, 0);
    if (p->type != PROBE_COMMAND)
        _exit(probe_run(p, timeout_ms));
    if (chdir(cwd) < 0)
        _exit(126);
    static char *const envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
                                 "LANG=C.UTF-8", NULL};
    char *argv[] = {"/bin/sh", "-c", p->target, NULL};
    execve(argv[0], argv, envp);
    _exit(127);
}
