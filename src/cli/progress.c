/* Progress of an operation on stderr (docs/cli.md, "Progress"); nothing
 * on stdout, nothing with --json or --quiet.
 *
 * Not a terminal: one plain line per phase, "[pull] phase=verify
 * environment=debian:12-base" (counted progress is left out).
 *
 * A terminal: the current phase on one line redrawn in place, a spinner
 * and the time spent in it, or a bar with the percentage where the phase
 * is counted; a finished phase stays as "[pull] verify ... done 0.8 s"
 * (a counted one that reached its total with its full bar before "done").
 * The drawing is done by a small child process forked before the
 * operation starts (so no thread shares the process that later forks
 * sandboxes), fed phase updates over a pipe; the CLI waits for it before
 * it prints the result or an error. Colours unless NO_COLOR is set. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "cli/cli.h"
#include "lib/contract/ctx.h"

#define FRAME_MS 100
#define LINE_MAX_LEN 512

struct phase {
    char op[32], name[48], msg[160];
    long long cur, total;
    int64_t start_ms;
    bool open;
};

struct painter {
    struct phase ph;
    bool color;
    unsigned frame;
};

static void bar(char *out, size_t size, long long cur, long long total)
{
    int pct = (int)(cur * 100 / total), fill = pct / 5;
    snprintf(out, size, "[%.*s%.*s] %3d%%", fill, "####################", 20 - fill, "                    ", pct);
}

static void draw(struct painter *p, bool final)
{
    struct phase *ph = &p->ph;
    if (!ph->open)
        return;
    static const char spin[] = "-\\|/";
    double secs = (double)(time_mono_ms() - ph->start_ms) / 1000.0;
    char mid[64];
    if (final) {
        char b[40] = "";
        if (ph->total > 0 && ph->cur == ph->total)
            bar(b, sizeof(b), ph->cur, ph->total); /* a counted phase keeps its full bar */
        snprintf(mid, sizeof(mid), "%s%s%sdone%s %.1f s", b, b[0] ? " " : "", p->color ? "\033[32m" : "",
                 p->color ? "\033[0m" : "", secs);
    } else if (ph->total > 0 && ph->cur >= 0 && ph->cur <= ph->total)
        bar(mid, sizeof(mid), ph->cur, ph->total);
    else
        snprintf(mid, sizeof(mid), "%c %.1f s", spin[p->frame % 4], secs);
    char line[LINE_MAX_LEN];
    snprintf(line, sizeof(line), "\r\033[K[%s] %s%s%s %s%s%s%s", ph->op, p->color ? "\033[1m" : "", ph->name,
             p->color ? "\033[0m" : "", ph->msg, ph->msg[0] ? " " : "", mid, final ? "\n" : "");
    if (write(STDERR_FILENO, line, strlen(line)) < 0)
        return;
}

/* One update: "op\tphase\tcur\ttotal\tmessage". */
static void update(struct painter *p, char *line)
{
    char *f[5] = {0};
    char *save = NULL, *s = line;
    for (int i = 0; i < 5; i++) {
        f[i] = i < 4 ? strtok_r(s, "\t", &save) : strtok_r(s, "", &save);
        s = NULL;
    }
    if (!f[0] || !f[1] || !f[2] || !f[3])
        return;
    struct phase *ph = &p->ph;
    bool same = ph->open && !strcmp(ph->op, f[0]) && !strcmp(ph->name, f[1]);
    if (!same) {
        draw(p, true);
        *ph = (struct phase){.start_ms = time_mono_ms(), .open = true};
        snprintf(ph->op, sizeof(ph->op), "%s", f[0]);
        snprintf(ph->name, sizeof(ph->name), "%s", f[1]);
    }
    snprintf(ph->msg, sizeof(ph->msg), "%s", f[4] ? f[4] : "");
    ph->cur = atoll(f[2]);
    ph->total = atoll(f[3]);
    draw(p, false);
}

static _Noreturn void painter_main(int fd)
{
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    const char *nc = getenv("NO_COLOR");
    struct painter p = {.color = !nc || !nc[0]};
    char buf[4096];
    size_t len = 0;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = poll(&pfd, 1, FRAME_MS);
        if (n < 0 && errno != EINTR)
            break;
        if (n == 0) {
            p.frame++;
            draw(&p, false);
            continue;
        }
        if (n < 0)
            continue;
        ssize_t got = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (got <= 0)
            break;
        len += (size_t)got;
        buf[len] = '\0';
        char *start = buf, *nl;
        while ((nl = strchr(start, '\n'))) {
            *nl = '\0';
            update(&p, start);
            start = nl + 1;
        }
        len = strlen(start);
        memmove(buf, start, len + 1);
        if (len == sizeof(buf) - 1) /* no newline in a full buffer: drop it */
            len = 0;
    }
    draw(&p, true);
    _exit(0);
}

static void cli_progress(void *userdata, const char *operation, const char *phase, int64_t current, int64_t total,
                         const char *message)
{
    struct cli_run *run = userdata;
    if (run->progress_fd >= 0) {
        char line[LINE_MAX_LEN];
        int n = snprintf(line, sizeof(line), "%s\t%s\t%lld\t%lld\t%s\n", operation, phase, (long long)current,
                         (long long)total, message ? message : "");
        if (n > 0 && (size_t)n < sizeof(line) && write(run->progress_fd, line, (size_t)n) < 0)
            log_debug("progress: %s", strerror(errno));
        return;
    }
    if (current >= 0 && total > 0)
        return;
    fprintf(stderr, "[%s] phase=%s%s%s\n", operation, phase, message && message[0] ? " " : "", message ? message : "");
}

void cli_progress_attach(struct cli_run *run)
{
    run->progress_fd = -1;
    run->progress_pid = -1;
    if (run->opts->json || run->opts->quiet)
        return;
    int fds[2];
    if (run->tty && pipe2(fds, O_CLOEXEC) == 0) {
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[1]);
            painter_main(fds[0]);
        }
        close(fds[0]);
        if (pid > 0) {
            run->progress_fd = fds[1];
            run->progress_pid = pid;
        } else {
            close(fds[1]);
        }
    }
    pyro_ctx_set_progress(run->ctx, cli_progress, run);
}

void cli_progress_detach(struct cli_run *run)
{
    pyro_ctx_set_progress(run->ctx, NULL, NULL);
    if (run->progress_fd >= 0)
        close(run->progress_fd);
    run->progress_fd = -1;
    if (run->progress_pid > 0)
        while (waitpid(run->progress_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    run->progress_pid = -1;
}
