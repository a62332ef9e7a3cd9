#include "base/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/paths.h"
#include "base/spawn_capture.h"

bool idmap_subid_parse(char *line, struct idmap_subid *r)
{
    char *save = NULL;
    char *who = strtok_r(line, ":\n", &save), *s = strtok_r(NULL, ":\n", &save), *c = strtok_r(NULL, ":\n", &save);
    if (!who || !s || !c || strtok_r(NULL, ":\n", &save) || strlen(who) >= sizeof(r->owner))
        return false;
    char *e1, *e2;
    errno = 0;
    unsigned long st = strtoul(s, &e1, 10), n = strtoul(c, &e2, 10);
    if (errno || *e1 || *e2 || s[0] == '-' || c[0] == '-' || n == 0 || st > UINT32_MAX || n > UINT32_MAX)
        return false;
    snprintf(r->owner, sizeof(r->owner), "%s", who);
    r->start = st;
    r->count = n;
    return true;
}

int idmap_subid_find(const char *file, const char *name, unsigned long id, uint32_t want, unsigned long *start,
                     uint32_t *count, pyro_error *err)
{
    _cleanup_fclose_ FILE *f = fopen(file, "re");
    if (!f)
        return errno == ENOENT ? -ENOENT : err_errno(err, errno, "read %s", file);
    char line[512], idstr[24];
    snprintf(idstr, sizeof(idstr), "%lu", id);
    while (fgets(line, sizeof(line), f)) {
        struct idmap_subid r;
        if (!idmap_subid_parse(line, &r) || (strcmp(r.owner, idstr) && (!name || strcmp(r.owner, name))))
            continue;
        /* a range that starts at 0 would map the sandbox's root to host root */
        if (r.count < want || r.start == 0 || r.start + want > UINT32_MAX)
            continue;
        *start = r.start;
        *count = want;
        return 0;
    }
    return -ENOENT;
}

static int base_from_env(uint32_t *base, pyro_error *err)
{
    const char *v = getenv("PYRO_IDMAP_BASE");
    *base = IDMAP_ROOT_POOL_BASE;
    if (!v || !v[0])
        return 0;
    char *end;
    errno = 0;
    unsigned long b = strtoul(v, &end, 10);
    if (errno || *end || b < IDMAP_COUNT || b > UINT32_MAX - 1 - IDMAP_COUNT)
        return err_set(err, -PYRO_E_INVALID, "PYRO_IDMAP_BASE must be a number from %u to %u, got '%s'", IDMAP_COUNT,
                       UINT32_MAX - 1 - IDMAP_COUNT, v);
    *base = (uint32_t)b;
    return 0;
}

int idmap_resolve(struct idmap *m, pyro_error *err)
{
    *m = (struct idmap){.count = IDMAP_COUNT, .user_uid = geteuid(), .user_gid = getegid()};
    if (m->user_uid == 0) {
        uint32_t base;
        int r = base_from_env(&base, err);
        if (r < 0)
            return r;
        m->uid_base = m->view_uid_base = base;
        m->gid_base = m->view_gid_base = base;
        return 0;
    }
    m->rootless = true;
    struct passwd *pw = getpwuid(m->user_uid);
    const char *name = pw ? pw->pw_name : NULL;
    unsigned long us = 0, gs = 0;
    uint32_t n;
    int r = idmap_subid_find("/etc/subuid", name, m->user_uid, IDMAP_COUNT, &us, &n, err);
    if (r == 0)
        r = idmap_subid_find("/etc/subgid", name, m->user_gid == m->user_uid ? m->user_uid : m->user_gid, IDMAP_COUNT,
                             &gs, &n, err);
    if (r == -ENOENT && name)
        r = idmap_subid_find("/etc/subgid", name, m->user_uid, IDMAP_COUNT, &gs, &n, err);
    if (r == -ENOENT)
        return err_set(err, -PYRO_E_UNSUPPORTED,
                       "user %s (uid %u) has no range of %u subordinate ids in /etc/subuid and /etc/subgid, which "
                       "rootless sandboxes map their ids to: as root, run usermod --add-subuids 100000-165535 "
                       "--add-subgids 100000-165535 %s",
                       name ? name : "?", (unsigned)m->user_uid, IDMAP_COUNT, name ? name : "USER");
    if (r < 0)
        return r;
    m->uid_base = (uid_t)us;
    m->gid_base = (gid_t)gs;
    return 0;
}

static int write_file(pid_t pid, const char *name, const char *text, pyro_error *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, errno, "open %s", path);
    ssize_t len = (ssize_t)strlen(text);
    if (write(fd, text, (size_t)len) != len)
        return err_errno(err, errno, "write '%s' to %s", text, path);
    return 0;
}

static int run_map_tool(const char *tool, pid_t pid, unsigned long base, uint32_t count, unsigned long own,
                        bool host_view, pyro_error *err)
{
    _cleanup_free_ char *path = NULL;
    int r = proc_find_program(tool, &path, err);
    if (r == -ENOENT)
        return err_set(err, -PYRO_E_UNSUPPORTED,
                       "%s is missing: rootless sandboxes need it to map their ids (apt-get install uidmap)", tool);
    if (r < 0)
        return r;
    char a[5][24];
    snprintf(a[0], sizeof(a[0]), "%d", (int)pid);
    snprintf(a[1], sizeof(a[1]), "%lu", base);
    snprintf(a[2], sizeof(a[2]), "%u", count);
    snprintf(a[3], sizeof(a[3]), "%u", count);
    snprintf(a[4], sizeof(a[4]), "%lu", own);
    char *argv[] = {path, a[0], (char *)"0", a[1], a[2], host_view ? a[3] : NULL, a[4], (char *)"1", NULL};
    struct proc_opts o = {.timeout_ms = 10000, .max_output = 4096, .merge_stderr = true};
    struct proc_result res = {0};
    r = proc_spawn(argv, &o, &res, err);
    if (r == 0 && res.status != 0)
        r = err_set(err, -EPERM, "%s %s 0 %s %s%s%s: %.300s", tool, a[0], a[1], a[2], host_view ? " ... " : "",
                    host_view ? a[4] : "", res.out ? res.out : "");
    proc_result_free(&res);
    return r;
}

int idmap_write(const struct idmap *m, pid_t pid, bool host_view, pyro_error *err)
{
    if (m->rootless) {
        int r = run_map_tool("newuidmap", pid, m->uid_base, m->count, m->user_uid, host_view, err);
        return r < 0 ? r : run_map_tool("newgidmap", pid, m->gid_base, m->count, m->user_gid, host_view, err);
    }
    char map[96];
    if (host_view)
        snprintf(map, sizeof(map), "0 %u %u\n%u %u 1\n", (unsigned)m->uid_base, m->count, m->count,
                 (unsigned)m->user_uid);
    else
        snprintf(map, sizeof(map), "0 %u %u\n", (unsigned)m->uid_base, m->count);
    int r = write_file(pid, "uid_map", map, err);
    if (r < 0)
        return r;
    if (host_view)
        snprintf(map, sizeof(map), "0 %u %u\n%u %u 1\n", (unsigned)m->gid_base, m->count, m->count,
                 (unsigned)m->user_gid);
    else
        snprintf(map, sizeof(map), "0 %u %u\n", (unsigned)m->gid_base, m->count);
    return write_file(pid, "gid_map", map, err);
}

int idmap_write_self(pid_t pid, pyro_error *err)
{
    char map[48];
    int r = write_file(pid, "setgroups", "deny", err);
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)getuid(), (unsigned)getuid());
    if (r == 0)
        r = write_file(pid, "uid_map", map, err);
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)getgid(), (unsigned)getgid());
    if (r == 0)
        r = write_file(pid, "gid_map", map, err);
    return r;
}

/* The error of a forked child, in memory shared with the parent. */
struct shared_err {
    int code;
    char message[sizeof(((pyro_error *)0)->message)];
};

static int shared_err_new(struct shared_err **out, pyro_error *err)
{
    struct shared_err *se = mmap(NULL, sizeof(*se), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    *out = NULL;
    if (se == MAP_FAILED)
        return err_errno(err, errno, "mmap");
    *se = (struct shared_err){.code = -EIO};
    *out = se;
    return 0;
}

/* Ends the child with r (exit status 1 and the error in se on failure). */
__attribute__((noreturn)) static void child_exit(struct shared_err *se, int r, const pyro_error *e)
{
    se->code = r < 0 ? r : 0;
    snprintf(se->message, sizeof(se->message), "%s", r < 0 ? e->message : "");
    _exit(r < 0 ? 1 : 0);
}

/* Reaps the child pid; its error (exit status 1) or how it died goes to
 * err. Unmaps se. */
static int child_result(pid_t pid, struct shared_err *se, const char *who, pyro_error *err)
{
    int st = 0, r = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
        r = err_set(err, se->code < 0 ? se->code : -EIO, "%s", se->message);
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        r = err_set(err, -EIO, "%s failed (%s %d)", who, WIFEXITED(st) ? "exit status" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    munmap(se, sizeof(*se));
    return r;
}

__attribute__((noreturn)) static void view_child(int rd, int wr, idmap_fn fn, void *arg, struct shared_err *se)
{
    pyro_error e = {0};
    char c = 0;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (unshare(CLONE_NEWUSER) < 0)
        child_exit(se, err_errno(&e, errno, "unshare(CLONE_NEWUSER) for the host view"), &e);
    if (write(wr, "u", 1) != 1 || read(rd, &c, 1) != 1 || c != 'm')
        _exit(2); /* the parent reports */
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        child_exit(se, err_errno(&e, errno, "become root of the host view"), &e);
    (void)setgroups(0, NULL); /* refused once newgidmap wrote "deny": fine */
    child_exit(se, fn(arg, &e), &e);
}

int idmap_run(const struct idmap *m, idmap_fn fn, void *arg, pyro_error *err)
{
    if (!m->rootless)
        return fn(arg, err);
    int to_child[2], to_parent[2], r = 0;
    if (pipe2(to_child, O_CLOEXEC) < 0)
        return err_errno(err, errno, "pipe");
    if (pipe2(to_parent, O_CLOEXEC) < 0) {
        r = err_errno(err, errno, "pipe");
        close(to_child[0]);
        close(to_child[1]);
        return r;
    }
    struct shared_err *se;
    r = shared_err_new(&se, err);
    pid_t pid = r == 0 ? fork() : -1;
    if (pid == 0) {
        /* only the child's ends: EOF on its read end when the parent gives up */
        close(to_child[1]);
        close(to_parent[0]);
        view_child(to_child[0], to_parent[1], fn, arg, se);
    }
    close(to_child[0]);
    close(to_parent[1]);
    if (r == 0 && pid < 0)
        r = err_errno(err, errno, "fork");
    char c = 0;
    if (r == 0 && read(to_parent[0], &c, 1) == 1 && c == 'u') {
        r = idmap_write(m, pid, true, err);
        if (r == 0 && write(to_child[1], "m", 1) != 1)
            r = err_errno(err, errno, "start the host-view child");
    }
    close(to_child[1]);
    close(to_parent[0]);
    if (pid > 0) {
        pyro_error cerr = {0};
        int cr = child_result(pid, se, "the host-view child", &cerr);
        if (r == 0 && cr < 0)
            r = err_set(err, cr, "%s", cerr.message);
    } else if (se)
        munmap(se, sizeof(*se));
    return r;
}

int idmap_run_in(int userns_fd, idmap_fn fn, void *arg, pyro_error *err)
{
    struct shared_err *se;
    int r = shared_err_new(&se, err);
    if (r < 0)
        return r;
    pid_t pid = fork();
    if (pid == 0) {
        pyro_error e = {0};
        child_exit(se,
                   setns(userns_fd, CLONE_NEWUSER) < 0 ? err_errno(&e, errno, "join the sandbox's user namespace")
                                                       : fn(arg, &e),
                   &e);
    }
    if (pid < 0) {
        munmap(se, sizeof(*se));
        return err_errno(err, errno, "fork");
    }
    return child_result(pid, se, "the child in the user namespace", err);
}

struct rm_args {
    int dirfd;
    const char *name;
};

static int rm_fn(void *arg, pyro_error *err)
{
    const struct rm_args *a = arg;
    return rm_rf_at(a->dirfd, a->name, err);
}

int idmap_rm_rf_at(int dirfd, const char *name, pyro_error *err)
{
    pyro_error first = {0};
    int r = rm_rf_at(dirfd, name, &first);
    if (r == 0 || geteuid() == 0 || (r != -EACCES && r != -EPERM)) {
        if (r < 0 && err)
            *err = first;
        return r;
    }
    struct idmap m;
    if (idmap_resolve(&m, NULL) < 0) {
        if (err)
            *err = first;
        return r;
    }
    struct rm_args a = {dirfd, name};
    return idmap_run(&m, rm_fn, &a, err);
}

int idmap_rm_rf(const char *path, pyro_error *err)
{
    /* From a descriptor of its directory: the host view need not cross
     * the user's directories (whose group it may not have mapped). */
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash || !slash[1])
        return idmap_rm_rf_at(AT_FDCWD, path, err);
    *slash = '\0';
    _cleanup_close_ int dfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : err_errno(err, errno, "open %s", dir[0] ? dir : "/");
    return idmap_rm_rf_at(dfd, slash + 1, err);
}
