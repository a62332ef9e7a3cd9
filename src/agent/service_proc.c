/* A service's processes: the supervisor (a child subreaper that keeps
 * every descendant of the service in its tree), the leader it runs, and
 * signals to the whole tree, found by walking /proc's parent links. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/service.h"
#include "base/cleanup.h"
#include "base/proc.h"

static const char *const service_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
    NULL,
};

static void __attribute__((noreturn))
leader_exec(const char *command, const char *cwd, char *const *envp, int out_w, int err_w)
{
    childio_setup(cwd, -1, out_w, err_w);
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    execve(argv[0], argv, envp);
    dprintf(2, "pyro-agent: exec /bin/sh: %s\n", strerror(errno));
    _exit(127);
}

/* Closes every fd from 3 up but the three kept ones: the supervisor holds
 * nothing of the agent's (its channel, the other services' pipes). */
static void close_others(int a, int b, int c)
{
    int k[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (k[j] < k[i]) {
                int t = k[i];
                k[i] = k[j];
                k[j] = t;
            }
    unsigned lo = 3;
    for (int i = 0; i < 3; i++) {
        if ((unsigned)k[i] > lo)
            close_range(lo, (unsigned)k[i] - 1, 0);
        if ((unsigned)k[i] + 1 > lo)
            lo = (unsigned)k[i] + 1;
    }
    close_range(lo, ~0U, 0);
}

/* The supervisor: reports the leader's pid, then its wait status, and
 * reaps every orphan of the tree until none is left. It keeps the agent's
 * credentials (init_guard_creds: the service cannot ptrace it). */
static void __attribute__((noreturn))
supervise(const char *command, const char *cwd, char *const *envp, int out_w, int err_w, int st_w)
{
    proc_signals_default();
    /* Stopping signals the tree below, never the supervisor itself; it
     * ignores TERM in case a service aims at it anyway. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    (void)setsid();
    close_others(out_w, err_w, st_w);
    pid_t leader = fork();
    if (leader == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        close(st_w);
        leader_exec(command, cwd, envp, out_w, err_w);
    }
    close(out_w);
    close(err_w);
    int32_t v = leader > 0 ? (int32_t)leader : -errno;
    if (write(st_w, &v, sizeof(v)) != (ssize_t)sizeof(v) || leader < 0)
        _exit(1);
    for (;;) {
        int status;
        pid_t p = waitpid(-1, &status, 0);
        if (p < 0 && errno == EINTR)
            continue;
        if (p < 0)
            break;
        if (p == leader) {
            int32_t s = status;
            (void)!write(st_w, &s, sizeof(s));
        }
    }
    _exit(0);
}

int service_envp(const json_t *env, char ***out, pyro_error *err)
{
    *out = NULL;
    if (env && (!json_is_object(env) || json_object_size(env) > SERVICE_ENV_MAX))
        return err_set(err, -PYRO_E_INVALID, "\"env\" must be an object of at most %d strings", SERVICE_ENV_MAX);
    size_t k = 0;
    char **v = xcalloc(ARRAY_SIZE(service_env) + json_object_size(env) + 1, sizeof(char *));
    for (size_t i = 0; service_env[i]; i++) {
        size_t nl = (size_t)(strchr(service_env[i], '=') - service_env[i]);
        _cleanup_free_ char *name = xstrndup(service_env[i], nl);
        if (!json_object_get(env, name))
            v[k++] = xstrdup(service_env[i]);
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)env, key, val) {
        const char *s = json_string_value(val);
        if (!key[0] || strchr(key, '=') || !s || strlen(s) != json_string_length(val)) {
            strv_free(v);
            return err_set(err, -PYRO_E_INVALID, "\"env\": %.64s must be a NAME without '=' with a string value", key);
        }
        v[k++] = xasprintf("%s=%s", key, s);
    }
    *out = v;
    return 0;
}

int service_spawn(const char *command, const char *cwd, char *const *envp, int out_w, int err_w, pid_t *sup,
                  pid_t *leader, int *status_rd, pyro_error *err)
{
    int st[2];
    if (pipe2(st, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(st[0]);
        supervise(command, cwd, envp, out_w, err_w, st[1]);
    }
    int e = errno;
    close(st[1]);
    if (pid < 0) {
        close(st[0]);
        return err_errno(err, e, "fork");
    }
    /* The supervisor answers at once with the leader's pid (or -errno). */
    int32_t v = 0;
    ssize_t n;
    do
        n = read(st[0], &v, sizeof(v));
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(v) || v <= 0) {
        close(st[0]);
        (void)kill(pid, SIGKILL);
        /* Reaped by the agent's SIGCHLD handler like any other child. */
        return err_errno(err, n == (ssize_t)sizeof(v) && v < 0 ? -v : EIO, "start the service");
    }
    int fl = fcntl(st[0], F_GETFL);
    (void)fcntl(st[0], F_SETFL, fl | O_NONBLOCK);
    *sup = pid;
    *leader = v;
    *status_rd = st[0];
    return 0;
}

/* Parent pid of pid from /proc/<pid>/stat (the field after the last ')'),
 * or -1. */
static pid_t parent_of(const char *pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    char state;
    int ppid;
    if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return ppid;
}

size_t service_signal_tree(pid_t sup, int sig)
{
    /* Collect (pid, ppid) once, then mark descendants of sup until no
     * more are found; a few rounds cover any depth in practice, and the
     * caller repeats the whole walk until the tree is empty. */
    size_t n = 0, cap = 256;
    pid_t *pids = xmalloc(cap * sizeof(*pids)), *ppids = xmalloc(cap * sizeof(*ppids));
    _cleanup_closedir_ DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        pid_t pp = parent_of(de->d_name);
        if (pp < 0)
            continue;
        if (n == cap) {
            cap *= 2;
            pids = xrealloc(pids, cap * sizeof(*pids));
            ppids = xrealloc(ppids, cap * sizeof(*ppids));
        }
        pids[n] = (pid_t)atoi(de->d_name);
        ppids[n++] = pp;
    }
    bool *in = xcalloc(n ? n : 1, sizeof(*in));
    size_t hit = 0;
    for (bool grew = true; grew;) {
        grew = false;
        for (size_t i = 0; i < n; i++) {
            if (in[i])
                continue;
            bool below = ppids[i] == sup;
            for (size_t j = 0; !below && j < n; j++)
                below = in[j] && pids[j] == ppids[i];
            if (below) {
                in[i] = grew = true;
                hit++;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (in[i]) {
            /* A stopped process gets CONT so that TERM is acted on. */
            (void)kill(pids[i], sig);
            if (sig != SIGKILL)
                (void)kill(pids[i], SIGCONT);
        }
    free(in);
    free(pids);
    free(ppids);
    return hit;
}
