/* Runs ip(8) and nft(8) for the host side of sandbox networking: execv of
 * an absolute path, no shell, stdin /dev/null, stderr captured for the
 * error message. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "backend/sandbox/internal.h"

#define CMD_OUTPUT_MAX (1u << 20)

extern char **environ;

const char *sandbox_cmd_find(const char *name)
{
    static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
    static char found[4][64];
    static const char *const names[] = {"ip", "nft"};
    for (size_t n = 0; n < ARRAY_SIZE(names); n++) {
        if (strcmp(name, names[n]) != 0)
            continue;
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
            char path[64];
            snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
            if (access(path, X_OK) == 0) {
                memcpy(found[n], path, sizeof(path));
                return found[n];
            }
        }
    }
    return NULL;
}

/* Reads both pipes until EOF; out gets at most CMD_OUTPUT_MAX bytes, the
 * error text at most 2 KiB. */
static void drain(int outfd, int errfd, char **out, size_t *out_len, char *errbuf, size_t errsize)
{
    size_t errlen = 0;
    struct pollfd p[2] = {{.fd = outfd, .events = POLLIN}, {.fd = errfd, .events = POLLIN}};
    while (p[0].fd >= 0 || p[1].fd >= 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        char buf[4096];
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                if (n < 0 && errno == EINTR)
                    continue;
                p[i].fd = -1;
                continue;
            }
            if (i == 0 && *out_len + (size_t)n <= CMD_OUTPUT_MAX) {
                *out = xrealloc(*out, *out_len + (size_t)n + 1);
                memcpy(*out + *out_len, buf, (size_t)n);
                *out_len += (size_t)n;
                (*out)[*out_len] = '\0';
            } else if (i == 1 && errlen + 1 < errsize) {
                size_t take = (size_t)n < errsize - 1 - errlen ? (size_t)n : errsize - 1 - errlen;
                memcpy(errbuf + errlen, buf, take);
                errlen += take;
                errbuf[errlen] = '\0';
            }
        }
    }
}

int sandbox_cmd_run(char *const *argv, char **out, pyro_error *err)
{
    int outp[2], errp[2];
    if (pipe2(outp, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    _cleanup_close_ int out_r = outp[0], out_w = outp[1];
    if (pipe2(errp, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    _cleanup_close_ int err_r = errp[0], err_w = errp[1];

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    posix_spawn_file_actions_adddup2(&fa, err_w, 2);
    pid_t pid;
    int r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        return err_errno(err, r, "run %s", argv[0]);
    close(TAKE_FD(out_w));
    close(TAKE_FD(err_w));

    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    char errbuf[2048] = "";
    drain(out_r, err_r, &buf, &len, errbuf, sizeof(errbuf));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return err_errno(err, errno, "wait for %s", argv[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errbuf[strcspn(errbuf, "\n")] = '\0';
        char cmdline[512] = "";
        for (size_t i = 0, used = 0; argv[i] && used < sizeof(cmdline) - 1; i++)
            used += (size_t)snprintf(cmdline + used, sizeof(cmdline) - used, "%s%s", i ? " " : "", argv[i]);
        return err_set(err, -EIO, "'%s' failed (%s %d): %s", cmdline,
                            WIFEXITED(status) ? "exit" : "signal",
                            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), errbuf);
    }
    if (out)
        *out = buf ? TAKE_PTR(buf) : xstrdup("");
    return 0;
}
