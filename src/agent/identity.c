/* The instance's identity from the monitor's hello, applied by the agent
 * that is PID 1 of a VM (docs/agent-protocol.md): a VM restored from a
 * memory template (backend/vm/template.c) runs with its template's
 * hostname, clock and kernel random state until then. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/random.h>

#include "agent/agent.h"
#include "base/cleanup.h"
#include "base/json.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Mixes the host's bytes into the input pool, credited, and makes the
 * generator reseed from it now (every later read differs from a clone's). */
static void apply_entropy(const char *hex)
{
    /* struct rand_pool_info ends in a flexible array: the bytes follow. */
    _Alignas(struct rand_pool_info) uint8_t raw[sizeof(struct rand_pool_info) + PROTO_HELLO_ENTROPY] = {0};
    struct rand_pool_info *info = (void *)raw;
    size_t n = strlen(hex);
    if (n != 2 * PROTO_HELLO_ENTROPY) {
        fprintf(stderr, AGENT_NAME ": hello: entropy is not %d hex bytes\n", PROTO_HELLO_ENTROPY);
        return;
    }
    uint8_t *buf = raw + sizeof(struct rand_pool_info);
    for (size_t i = 0; i < PROTO_HELLO_ENTROPY; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            fprintf(stderr, AGENT_NAME ": hello: entropy is not hex\n");
            return;
        }
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    info->entropy_count = PROTO_HELLO_ENTROPY * 8;
    info->buf_size = PROTO_HELLO_ENTROPY;
    _cleanup_close_ int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
    if (fd < 0 || ioctl(fd, RNDADDENTROPY, info) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0)
        fprintf(stderr, AGENT_NAME ": hello: reseed the kernel's generator: %s\n", strerror(errno));
    explicit_bzero(raw, sizeof(raw));
}

void agent_identity_apply(const json_t *hello)
{
    const char *host = json_get_str(hello, "hostname", NULL);
    if (host && host[0] && strlen(host) <= 64 && sethostname(host, strlen(host)) < 0)
        fprintf(stderr, AGENT_NAME ": hello: sethostname: %s\n", strerror(errno));
    json_t *t = json_object_get(hello, "time_ns");
    if (json_is_integer(t) && json_integer_value(t) > 0) {
        json_int_t ns = json_integer_value(t);
        struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000)};
        if (clock_settime(CLOCK_REALTIME, &ts) < 0)
            fprintf(stderr, AGENT_NAME ": hello: set the clock: %s\n", strerror(errno));
    }
    const char *entropy = json_get_str(hello, "entropy", NULL);
    if (entropy)
        apply_entropy(entropy);
}
