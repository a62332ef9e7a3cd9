/* Building an environment's rootfs with mmdebstrap: choosing the apt
 * sources, running the child safely, and reporting its failures.
 *
 * The child runs in its own process group with its output in
 * <tmpdir>/build.log. It dies with the caller: PR_SET_PDEATHSIG(SIGKILL).
 * As root it also gets its own mount and PID namespaces, so the /proc, /sys
 * and /dev mounts mmdebstrap makes inside the chroot never reach the host's
 * mount table, and when mmdebstrap (PID 1 there) dies, the kernel kills
 * every apt and dpkg process it started: a `kill -9` of pyro leaves no
 * process and no mount behind. */
#include "lib/env/env.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "base/record.h"
#include "base/shell.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"

#define ENV_MIRROR_MAX 1024
#define ENV_BUILD_TIMEOUT_MS (60 * 60 * 1000)
#define ENV_DEFAULT_MIRROR "http://deb.debian.org/debian"
/* Recipe-wide build options; changing them changes every recipe (bump versions). */
#define ENV_SOURCE_DATE_EPOCH "1700000000"

static const char *const dpkg_opts[] = {
    "path-exclude=/usr/share/man/*",     "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",     "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",  "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/lintian/*", NULL,
};

int env_mirror_check(const char *mirror, pyro_error *err)
{
    size_t len = strlen(mirror);
    if (len == 0 || len > ENV_MIRROR_MAX)
        return err_set(err, -PYRO_E_INVALID, "mirror must be 1 to %d characters", ENV_MIRROR_MAX);
    if (strncmp(mirror, "http://", 7) && strncmp(mirror, "https://", 8) && strncmp(mirror, "file:///", 8))
        return err_set(err, -PYRO_E_INVALID, "mirror must be an http://, https:// or file:/// URL, got '%.80s'",
                       mirror);
    for (const char *c = mirror; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '[' || *c == ']' || *c == '"' || *c == '\'')
            return err_set(err, -PYRO_E_INVALID, "mirror URL contains a space, quote, bracket or control character");
    return 0;
}

void env_sources_free(struct env_sources *s)
{
    for (int i = 0; i < s->count; i++)
        free(s->lines[i]);
    free(s->primary);
    memset(s, 0, sizeof(*s));
}

static void sources_add(struct env_sources *out, const char *uri, const char *suite, const char *want)
{
    /* The release itself and its updates and security suites only: no
     * backports, no other release. */
    size_t wl = strlen(want);
    if (strncmp(suite, want, wl) || (suite[wl] && strcmp(suite + wl, "-updates") && strcmp(suite + wl, "-security")))
        return;
    if (out->count >= (int)ARRAY_SIZE(out->lines) || env_mirror_check(uri, NULL) < 0)
        return;
    for (int i = 0; i < out->count; i++) {
        _cleanup_free_ char *l = xasprintf("deb %s %s main", uri, suite);
        if (!strcmp(out->lines[i], l))
            return;
    }
    out->lines[out->count++] = xasprintf("deb %s %s main", uri, suite);
    if (!out->primary && !strcmp(suite, want))
        out->primary = xstrdup(uri);
}

/* The words of a deb822 field value: "URIs: a b" */
static void each_word(const char *v, void (*fn)(const char *w, void *d), void *d)
{
    char buf[ENV_MIRROR_MAX + 1];
    while (*v) {
        while (*v == ' ' || *v == '\t')
            v++;
        size_t n = strcspn(v, " \t");
        if (n && n < sizeof(buf)) {
            memcpy(buf, v, n);
            buf[n] = '\0';
            fn(buf, d);
        }
        v += n;
    }
}

struct stanza {
    char types[128], uris[2048], suites[512], enabled[16];
};

struct stanza_emit {
    struct env_sources *out;
    const char *want;
    const char *uri;
};

static void emit_suite(const char *suite, void *d)
{
    struct stanza_emit *e = d;
    sources_add(e->out, e->uri, suite, e->want);
}

static void stanza_flush(struct stanza *st, struct env_sources *out, const char *want)
{
    char types[sizeof(st->types) + 2];
    snprintf(types, sizeof(types), " %s ", st->types);
    bool deb = strstr(types, " deb ") != NULL;
    if (deb && strcasecmp(st->enabled, "no") != 0) {
        /* every URI with every suite */
        char uris[sizeof(st->uris)];
        snprintf(uris, sizeof(uris), "%s", st->uris);
        char *save = NULL;
        for (char *u = strtok_r(uris, " \t", &save); u; u = strtok_r(NULL, " \t", &save)) {
            struct stanza_emit e = {out, want, u};
            each_word(st->suites, emit_suite, &e);
        }
    }
    memset(st, 0, sizeof(*st));
}

static void copy_field(char *dst, size_t size, const char *line, size_t nl)
{
    const char *v = line + nl;
    while (*v == ' ' || *v == '\t')
        v++;
    snprintf(dst, size, "%s", v);
}

int env_sources_parse(const char *text, bool deb822, const char *suite, struct env_sources *out)
{
    _cleanup_free_ char *copy = xstrdup(text);
    struct stanza st;
    memset(&st, 0, sizeof(st));
    char *save = NULL;
    /* strtok_r skips empty lines, so stanza ends are found by hand. */
    for (char *line = copy, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = '\0';
        if (deb822) {
            if (len == 0) {
                stanza_flush(&st, out, suite);
                continue;
            }
            if (line[0] == '#' || line[0] == ' ' || line[0] == '\t')
                continue;
            if (!strncasecmp(line, "Types:", 6))
                copy_field(st.types, sizeof(st.types), line, 6);
            else if (!strncasecmp(line, "URIs:", 5))
                copy_field(st.uris, sizeof(st.uris), line, 5);
            else if (!strncasecmp(line, "Suites:", 7))
                copy_field(st.suites, sizeof(st.suites), line, 7);
            else if (!strncasecmp(line, "Enabled:", 8))
                copy_field(st.enabled, sizeof(st.enabled), line, 8);
            continue;
        }
        /* deb [options] URI SUITE COMPONENT... */
        char *w = strtok_r(line, " \t", &save);
        if (!w || strcmp(w, "deb"))
            continue;
        char *uri = strtok_r(NULL, " \t", &save);
        if (uri && uri[0] == '[') {
            while (uri && !strchr(uri, ']'))
                uri = strtok_r(NULL, " \t", &save);
            uri = strtok_r(NULL, " \t", &save);
        }
        char *s = uri ? strtok_r(NULL, " \t", &save) : NULL;
        if (uri && s)
            sources_add(out, uri, s, suite);
    }
    if (deb822)
        stanza_flush(&st, out, suite);
    return out->count;
}

static void read_host_sources(const struct env_recipe *r, struct env_sources *out)
{
    static const struct {
        const char *path;
        bool deb822;
    } files[] = {
        {"/etc/apt/sources.list.d/debian.sources", true},
        {"/etc/apt/sources.list", false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        if (read_file_at(AT_FDCWD, files[i].path, 1024 * 1024, &text, &len, NULL) < 0)
            continue;
        int before = out->count;
        env_sources_parse(text, files[i].deb822, r->suite, out);
        if (out->count > before && !out->origin)
            out->origin = files[i].path;
    }
}

int env_sources_resolve(const struct env_recipe *r, const char *mirror, struct env_sources *out, pyro_error *err)
{
    memset(out, 0, sizeof(*out));
    const char *origin = "--mirror";
    if (!mirror || !mirror[0]) {
        mirror = getenv("PYRO_DEBIAN_MIRROR");
        origin = "PYRO_DEBIAN_MIRROR";
    }
    if (mirror && mirror[0]) {
        int rc = env_mirror_check(mirror, err);
        if (rc < 0)
            return err_prefix(err, "%s", origin);
        out->lines[out->count++] = xasprintf("deb %s %s main", mirror, r->suite);
        out->primary = xstrdup(mirror);
        out->origin = origin;
        return 0;
    }
    read_host_sources(r, out);
    if (!out->primary) {
        /* Nothing for this suite on the host: use Debian's own redirector. */
        env_sources_free(out);
        out->lines[out->count++] = xasprintf("deb %s %s main", ENV_DEFAULT_MIRROR, r->suite);
        out->primary = xstrdup(ENV_DEFAULT_MIRROR);
        out->origin = "default";
    }
    return 0;
}

char *env_log_tail(int dirfd, const char *name, size_t max)
{
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return xstrdup("");
    char buf[4096];
    off_t end = lseek(fd, 0, SEEK_END);
    off_t start = end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0;
    ssize_t n = pread(fd, buf, sizeof(buf), start);
    if (n <= 0)
        return xstrdup("");
    /* Keep whole lines from the end that fit in max, joined by " | ". */
    char *out = xmalloc(max + 1);
    size_t olen = 0;
    ssize_t e = n;
    while (e > 0) {
        while (e > 0 && (buf[e - 1] == '\n' || buf[e - 1] == '\r'))
            e--;
        ssize_t s = e;
        while (s > 0 && buf[s - 1] != '\n')
            s--;
        size_t ll = (size_t)(e - s);
        if (s == 0 && start > 0)
            break; /* a partial first line */
        if (ll == 0)
            break;
        if (olen + ll + (olen ? 3 : 0) > max) {
            if (olen == 0) { /* one long line: keep its end */
                memcpy(out, buf + e - max, max);
                olen = max;
            }
            break;
        }
        memmove(out + ll + (olen ? 3 : 0), out, olen);
        memcpy(out, buf + s, ll);
        if (olen)
            memcpy(out + ll, " | ", 3);
        olen += ll + (olen ? 3 : 0);
        e = s;
    }
    char *clean = utf8_sanitize(out, olen, NULL, NULL);
    free(out);
    for (char *c = clean; *c; c++)
        if ((unsigned char)*c < ' ')
            *c = ' ';
    return clean;
}

/* Builds the argument vector; strings are owned by the returned strv. */
static char **build_argv(const struct env_recipe *r, const struct env_sources *src, const char *target)
{
    size_t cap = 32 + ARRAY_SIZE(dpkg_opts) + (size_t)src->count, n = 0;
    char **argv = xcalloc(cap, sizeof(char *));
    argv[n++] = xstrdup("mmdebstrap");
    argv[n++] = xasprintf("--variant=%s", r->variant);
    argv[n++] = xstrdup(geteuid() == 0 ? "--mode=root" : "--mode=unshare");
    argv[n++] = xstrdup("--format=directory");
    argv[n++] = xstrdup("--aptopt=Acquire::Languages \"none\"");
    argv[n++] = xstrdup("--aptopt=Acquire::Retries \"2\"");
    for (size_t i = 0; dpkg_opts[i]; i++)
        argv[n++] = xasprintf("--dpkgopt=%s", dpkg_opts[i]);
    if (r->packages[0]) {
        size_t len = 1;
        for (size_t i = 0; r->packages[i]; i++)
            len += strlen(r->packages[i]) + 1;
        char *inc = xmalloc(len + 16), *p = stpcpy(inc, "--include=");
        for (size_t i = 0; r->packages[i]; i++)
            p += sprintf(p, "%s%s", i ? "," : "", r->packages[i]);
        argv[n++] = inc;
    }
    argv[n++] = xstrdup("--");
    argv[n++] = xstrdup(r->suite);
    argv[n++] = xstrdup(target);
    for (int i = 0; i < src->count; i++)
        argv[n++] = xstrdup(src->lines[i]);
    return argv;
}

static char **build_envp(void)
{
    extern char **environ;
    size_t n = strv_len(environ), k = 0;
    char **envp = xcalloc(n + 4, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "SOURCE_DATE_EPOCH=", 18) && strncmp(environ[i], "LC_ALL=", 7))
            envp[k++] = xstrdup(environ[i]);
    envp[k++] = xstrdup("SOURCE_DATE_EPOCH=" ENV_SOURCE_DATE_EPOCH);
    envp[k++] = xstrdup("LC_ALL=C.UTF-8");
    return envp;
}

/* In the child: never returns. Only async-signal-safe calls. */
__attribute__((noreturn)) static void child_exec(pid_t parent, int logfd, char **argv, char **envp)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127); /* the caller died before the death signal was armed */
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
        _exit(127);
    if (geteuid() == 0 && unshare(CLONE_NEWNS | CLONE_NEWPID) == 0 &&
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0) {
        pid_t inner = fork();
        if (inner == 0) {
            /* PID 1 of the new namespace; its parent is this process. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            execvpe(argv[0], argv, envp);
            dprintf(2, "pyro: cannot run %s: %s\n", argv[0], strerror(errno));
            _exit(127);
        }
        if (inner < 0)
            _exit(127);
        int st = 0;
        while (waitpid(inner, &st, 0) < 0)
            if (errno != EINTR)
                _exit(127);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
    execvpe(argv[0], argv, envp);
    dprintf(2, "pyro: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int wait_child(pid_t *pid, int *status, pyro_error *err)
{
    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, *pid, 0);
    int64_t waited = 0;
    for (;;) {
        if (pidfd >= 0) {
            struct pollfd p = {.fd = pidfd, .events = POLLIN};
            int pr = poll(&p, 1, 1000);
            if (pr < 0 && errno != EINTR)
                return err_errno(err, errno, "poll");
        } else {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        pid_t w = waitpid(*pid, status, WNOHANG);
        if (w == *pid) {
            *pid = 0;
            return 0;
        }
        if (w < 0 && errno != EINTR)
            return err_errno(err, errno, "waitpid");
        waited += pidfd >= 0 ? 1000 : 100;
        if (waited > ENV_BUILD_TIMEOUT_MS) {
            kill(-*pid, SIGKILL);
            return err_set(err, -PYRO_E_TIMEOUT, "mmdebstrap ran longer than %d minutes", ENV_BUILD_TIMEOUT_MS / 60000);
        }
    }
}

int env_build_rootfs(struct pyro_ctx *ctx, const struct env_recipe *r, const struct env_sources *src, int tmpfd,
                     const char *tmpdir, pyro_error *err)
{
    _cleanup_close_ int logfd = openat(tmpfd, "build.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0)
        return err_errno(err, errno, "create %s/build.log", tmpdir);
    _cleanup_free_ char *target = xasprintf("%s/%s", tmpdir, ENV_ROOTFS_NAME);
    _cleanup_strv_ char **argv = build_argv(r, src, target);
    _cleanup_strv_ char **envp = build_envp();
    {
        _cleanup_free_ char *cmd = shell_join_command((int)strv_len(argv), argv);
        dprintf(logfd, "pyro: %s\n", cmd);
        log_debug("environment %s: running %s", r->name, cmd);
    }
    pid_t parent = getpid();
    _cleanup_pid_ pid_t pid = fork();
    if (pid < 0)
        return err_errno(err, errno, "fork");
    if (pid == 0)
        child_exec(parent, logfd, argv, envp);
    int status = 0;
    int rc = wait_child(&pid, &status, err);
    if (rc < 0)
        return rc;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    _cleanup_free_ char *tail = env_log_tail(tmpfd, "build.log", 560);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && strstr(tail, "cannot run"))
        return err_set(err, -PYRO_E_UNSUPPORTED, "mmdebstrap is not installed (apt-get install mmdebstrap): %s", tail);
    (void)ctx;
    return err_set(err, -EIO, "mmdebstrap failed (%s %d) building %s from %s: %s",
                   WIFEXITED(status) ? "exit status" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), r->name,
                   src->primary ? src->primary : "?", tail);
}
