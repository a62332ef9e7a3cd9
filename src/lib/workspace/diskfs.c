/* debugfs-based offline inspection of a workspace's disk image (diskfs.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/spawn_capture.h"
#include "lib/workspace/diskfs.h"

#define DFS_TIMEOUT_MS 120000
#define DFS_LS_MAX (32u << 20) /* bytes of one directory's listing */
#define DFS_ROOT_INO 2

static const char *const scrubbed[] = {"run/pyro-secrets", "run/pyro-shells", "run/pyro-services"};

struct dfs_ent {
    unsigned long ino;
    unsigned mode;
    long long size;
    char *name;
};

struct dfs_dir {
    struct dfs_ent *v;
    size_t n;
};

static void dir_free(struct dfs_dir *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].name);
    free(d->v);
    *d = (struct dfs_dir){0};
}

/* The tools parse an image that a guest wrote. As root they run as nobody
 * (DFS_TOOL_ID) with no capabilities and no_new_privs (setpriv), so a bug
 * in their parsing is not root's: the image is handed to them as fd 3
 * (/proc/self/fd/3; the directories above it stay closed to them) and is
 * owned by nobody only while they work. */
#define DFS_TOOL_ID 65534
#define DFS_IMG_PATH "/proc/self/fd/3"

struct dfs_img {
    int fd;
    bool chowned;
    uid_t uid;
    gid_t gid;
};

static int img_open(const char *path, bool rw, struct dfs_img *m, pyro_error *err)
{
    *m = (struct dfs_img){.fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC)};
    struct stat st;
    if (m->fd < 0 || fstat(m->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = errno ? errno : EINVAL;
        if (m->fd >= 0)
            close(m->fd);
        m->fd = -1;
        return err_errno(err, e, "open the disk image %s", path);
    }
    m->uid = st.st_uid;
    m->gid = st.st_gid;
    if (geteuid() == 0) {
        if (fchown(m->fd, DFS_TOOL_ID, DFS_TOOL_ID) < 0) {
            int e = errno;
            close(m->fd);
            m->fd = -1;
            return err_errno(err, e, "hand the disk image %s to the tools", path);
        }
        m->chowned = true;
    }
    return 0;
}

static void img_close(struct dfs_img *m)
{
    if (m->fd < 0)
        return;
    if (m->chowned && fchown(m->fd, m->uid, m->gid) < 0)
        log_msg(PYRO_LOG_WARN, "give the disk image back to %u: %s", (unsigned)m->uid, strerror(errno));
    close(m->fd);
    m->fd = -1;
}

/* argv for prog (found on PATH) with args, as nobody when root. */
static int tool_argv(const char *prog, char *const *args, char **argv, size_t cap, char **found, pyro_error *err)
{
    size_t n = 0;
    if (geteuid() == 0) {
        if (proc_find_program("setpriv", &found[0], NULL) < 0)
            return err_set(err, -PYRO_E_UNSUPPORTED, "setpriv not found: install util-linux");
        static char *const drop[] = {"--reuid=" STRINGIFY(DFS_TOOL_ID),
                                     "--regid=" STRINGIFY(DFS_TOOL_ID),
                                     "--clear-groups",
                                     "--no-new-privs",
                                     "--inh-caps=-all",
                                     "--bounding-set=-all",
                                     "--",
                                     NULL};
        argv[n++] = found[0];
        for (size_t i = 0; drop[i]; i++)
            argv[n++] = drop[i];
    }
    if (proc_find_program(prog, &found[1], NULL) < 0)
        return err_set(err, -PYRO_E_UNSUPPORTED, "%s not found: install e2fsprogs (scripts/deps.sh)", prog);
    argv[n++] = found[1];
    for (size_t i = 0; args[i] && n + 2 < cap; i++)
        argv[n++] = args[i];
    argv[n++] = DFS_IMG_PATH;
    argv[n] = NULL;
    return 0;
}

/* Runs one debugfs command (args: "-w", "-f -" with script_fd as its
 * stdin, or "-R CMD"); an error line on stderr (past the version banner)
 * is an error. */
static int dfs_run_in(char *const *args, const struct dfs_img *img, int script_fd, size_t max, struct proc_result *res,
                      pyro_error *err)
{
    char *argv[20];
    char *found[2] = {NULL, NULL};
    int r = tool_argv("debugfs", args, argv, ARRAY_SIZE(argv), found, err);
    if (r < 0) {
        free(found[0]);
        free(found[1]);
        return r;
    }
    struct proc_opts o = {.timeout_ms = DFS_TIMEOUT_MS, .max_output = max, .stdin_fd = script_fd, .pass_fd = img->fd};
    r = proc_spawn(argv, &o, res, err);
    free(found[0]);
    free(found[1]);
    if (r < 0)
        return err_prefix(err, "debugfs");
    const char *e = res->err_text;
    if (!strncmp(e, "debugfs ", 8))
        e += strcspn(e, "\n") + (e[strcspn(e, "\n")] ? 1 : 0);
    if (res->status != 0 || *e) {
        int code = err_set(err, -PYRO_E_CORRUPT, "debugfs on the disk image: %.*s", (int)strcspn(e, "\n"),
                           *e ? e : "failed");
        proc_result_free(res);
        return code;
    }
    return 0;
}

static int dfs_run(char *const *args, const struct dfs_img *img, size_t max, struct proc_result *res, pyro_error *err)
{
    return dfs_run_in(args, img, -1, max, res, err);
}

/* One line of `ls -p`: /INO/MODE/UID/GID/NAME/SIZE/ (a name holds no
 * '/'; a name with a newline breaks into lines that do not parse, and is
 * left out: counted by the caller). */
enum { LINE_BAD, LINE_SKIP, LINE_OK };

static int parse_line(char *line, struct dfs_ent *e)
{
    char *f[8];
    size_t n = 0;
    if (line[0] != '/')
        return LINE_BAD;
    for (char *p = line; *p && n < 8; p++)
        if (*p == '/') {
            *p = '\0';
            f[n++] = p + 1;
        }
    if (n != 7 || *f[6] != '\0')
        return LINE_BAD;
    char *end;
    e->ino = strtoul(f[0], &end, 10);
    if (*end)
        return LINE_BAD;
    e->mode = (unsigned)strtoul(f[1], &end, 8);
    if (*end)
        return LINE_BAD;
    e->size = *f[5] ? strtoll(f[5], &end, 10) : 0;
    if (*f[5] && *end)
        return LINE_BAD;
    e->name = f[4];
    /* inode 0: an empty slot (lost+found keeps some) */
    if (!e->ino || !strcmp(e->name, ".") || !strcmp(e->name, ".."))
        return LINE_SKIP;
    return *e->name ? LINE_OK : LINE_BAD;
}

static int dfs_ls(const struct dfs_img *img, unsigned long ino, struct dfs_dir *d, size_t *skipped, pyro_error *err)
{
    char cmd[48];
    snprintf(cmd, sizeof(cmd), "ls -p <%lu>", ino);
    char *args[] = {"-R", cmd, NULL};
    struct proc_result res = {0};
    int r = dfs_run(args, img, DFS_LS_MAX, &res, err);
    if (r < 0)
        return r;
    if (res.truncated) {
        proc_result_free(&res);
        return err_set(err, -PYRO_E_LIMIT, "a directory on the disk lists more than %u bytes", DFS_LS_MAX);
    }
    size_t cap = 0;
    for (char *save = NULL, *line = strtok_r(res.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct dfs_ent e;
        int kind = parse_line(line, &e);
        if (kind != LINE_OK) {
            if (skipped && kind == LINE_BAD)
                ++*skipped;
            continue;
        }
        if (d->n == cap)
            d->v = xrealloc(d->v, (cap = cap ? cap * 2 : 16) * sizeof(*d->v));
        e.name = xstrdup(e.name);
        d->v[d->n++] = e;
    }
    proc_result_free(&res);
    return 0;
}

static bool is_scrubbed(const char *rel)
{
    for (size_t i = 0; i < sizeof(scrubbed) / sizeof(*scrubbed); i++) {
        size_t n = strlen(scrubbed[i]);
        if (!strncmp(rel, scrubbed[i], n) && (rel[n] == '\0' || rel[n] == '/'))
            return true;
    }
    return false;
}

/* A whiteout (the overlay's mark of a removed lower file): a character
 * device; the upper layer holds no other (no mknod in a sandbox). */
static bool hidden(const struct dfs_ent *e)
{
    return S_ISCHR(e->mode);
}

/* Resolves rel beneath /upper, one name at a time, following no link. */
static int dfs_lookup(const struct dfs_img *img, const char *rel, struct dfs_ent *out, pyro_error *err)
{
    if (is_scrubbed(rel))
        return err_set(err, -PYRO_E_NOT_FOUND, "/%s: runtime state, scrubbed from the disk tools", rel);
    struct dfs_ent cur = {.ino = DFS_ROOT_INO, .mode = S_IFDIR | 0755};
    _cleanup_free_ char *path = xasprintf("upper%s%s", *rel ? "/" : "", rel);
    size_t done = 0; /* bytes of path resolved */
    for (char *save = NULL, *comp = strtok_r(path, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
        if (!S_ISDIR(cur.mode))
            return S_ISLNK(cur.mode)
                       ? err_set(err, -PYRO_E_INVALID, "/%.*s is a symbolic link: the disk tools do not follow links",
                                 (int)(done > 7 ? done - 7 : 0), rel)
                       : err_set(err, -PYRO_E_NOT_FOUND, "/%.*s is not a directory", (int)(done > 7 ? done - 7 : 0),
                                 rel);
        struct dfs_dir d = {0};
        int r = dfs_ls(img, cur.ino, &d, NULL, err);
        if (r < 0)
            return r;
        bool found = false;
        for (size_t i = 0; i < d.n && !found; i++)
            if (!strcmp(d.v[i].name, comp) && !hidden(&d.v[i])) {
                cur = (struct dfs_ent){.ino = d.v[i].ino, .mode = d.v[i].mode, .size = d.v[i].size};
                found = true;
            }
        dir_free(&d);
        if (!found)
            return done == 0 ? err_set(err, -PYRO_E_NOT_FOUND, "the disk image holds no writable layer (/upper)")
                             : err_set(err, -PYRO_E_NOT_FOUND, "/%s: not on the workspace's disk", rel);
        done += strlen(comp) + 1;
    }
    *out = cur;
    return 0;
}

static const char *type_of(unsigned mode)
{
    return S_ISDIR(mode) ? "dir" : S_ISREG(mode) ? "file" : S_ISLNK(mode) ? "symlink" : "other";
}

static void add_entry(json_t *entries, const char *rel, const struct dfs_ent *e)
{
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", e->mode & 07777);
    json_array_append_new(entries, json_pack("{s:s+, s:s, s:I, s:s}", "path", "/", rel, "type", type_of(e->mode),
                                             "size", (json_int_t)(S_ISDIR(e->mode) ? 0 : e->size), "mode", mode));
}

static int list_dir(const struct dfs_img *img, const char *rel, unsigned long ino, bool recursive, json_t *entries,
                    bool *truncated, size_t *unlisted, pyro_error *err)
{
    struct dfs_dir d = {0};
    int r = dfs_ls(img, ino, &d, unlisted, err);
    for (size_t i = 0; r == 0 && i < d.n; i++) {
        _cleanup_free_ char *sub = *rel ? xasprintf("%s/%s", rel, d.v[i].name) : xstrdup(d.v[i].name);
        if (hidden(&d.v[i]) || is_scrubbed(sub))
            continue;
        if (json_array_size(entries) >= DISKFS_LIST_MAX) {
            *truncated = true;
            break;
        }
        add_entry(entries, sub, &d.v[i]);
        if (recursive && S_ISDIR(d.v[i].mode))
            r = list_dir(img, sub, d.v[i].ino, true, entries, truncated, unlisted, err);
    }
    dir_free(&d);
    return r;
}

static int list_img(const struct dfs_img *img, const char *rel, bool recursive, json_t **entries, bool *truncated,
                    size_t *unlisted, pyro_error *err)
{
    struct dfs_ent e;
    int r = dfs_lookup(img, rel, &e, err);
    if (r < 0)
        return r;
    json_auto_t *out = json_array();
    *truncated = false;
    *unlisted = 0;
    if (S_ISDIR(e.mode))
        r = list_dir(img, rel, e.ino, recursive, out, truncated, unlisted, err);
    else
        add_entry(out, rel, &e);
    if (r == 0)
        *entries = json_incref(out);
    return r;
}

static int read_img(const struct dfs_img *img, const char *rel, size_t max, char **data, size_t *len, long long *size,
                    pyro_error *err)
{
    struct dfs_ent e;
    int r = dfs_lookup(img, rel, &e, err);
    if (r < 0)
        return r;
    if (S_ISLNK(e.mode))
        return err_set(err, -PYRO_E_INVALID, "/%s is a symbolic link: the disk tools do not follow links", rel);
    if (!S_ISREG(e.mode))
        return err_set(err, -PYRO_E_INVALID, "/%s is a %s, not a regular file", rel, type_of(e.mode));
    char cmd[48];
    snprintf(cmd, sizeof(cmd), "cat <%lu>", e.ino);
    char *args[] = {"-R", cmd, NULL};
    struct proc_result res = {0};
    if ((r = dfs_run(args, img, max, &res, err)) < 0)
        return r;
    *len = res.len < max ? res.len : max;
    *data = TAKE_PTR(res.out);
    *size = e.size;
    proc_result_free(&res);
    return 0;
}

/* Every inode beneath directory ino (links not followed), children first,
 * as commands that free its blocks (kill_file) and zero it (clri), so
 * that e2fsck finds nothing to reconnect into lost+found. */
static int collect(const struct dfs_img *img, unsigned long ino, FILE *s, int depth, pyro_error *err)
{
    if (depth > 256)
        return err_set(err, -PYRO_E_LIMIT, "runtime directories nested too deep to scrub");
    struct dfs_dir d = {0};
    size_t skipped = 0;
    int r = dfs_ls(img, ino, &d, &skipped, err);
    if (r == 0 && skipped)
        r = err_set(err, -PYRO_E_INVALID, "a runtime directory holds names the scrub cannot read");
    for (size_t i = 0; r == 0 && i < d.n; i++) {
        if (S_ISDIR(d.v[i].mode))
            r = collect(img, d.v[i].ino, s, depth + 1, err);
        fprintf(s, "kill_file <%lu>\nclri <%lu>\n", d.v[i].ino, d.v[i].ino);
    }
    dir_free(&d);
    return r;
}

static int fsck(const struct dfs_img *img, const char *extra, pyro_error *err)
{
    char *args[] = {"-f", "-y", extra ? "-E" : NULL, (char *)extra, NULL};
    char *argv[20], *found[2] = {NULL, NULL};
    int r = tool_argv("e2fsck", args, argv, ARRAY_SIZE(argv), found, err);
    if (r < 0) {
        free(found[0]);
        free(found[1]);
        return r;
    }
    struct proc_opts o = {.timeout_ms = DFS_TIMEOUT_MS, .max_output = 65536, .merge_stderr = true, .pass_fd = img->fd};
    struct proc_result res = {0};
    r = proc_spawn(argv, &o, &res, err);
    free(found[0]);
    free(found[1]);
    if (r < 0)
        return err_prefix(err, "e2fsck");
    int st = res.status;
    proc_result_free(&res);
    if (st >= 4) /* 1: errors corrected (the counts the scrub left) */
        return err_set(err, -PYRO_E_CORRUPT, "e2fsck of the exported disk failed (status %d)", st);
    return 0;
}

static int scrub_img(const struct dfs_img *img, const char *path, int *removed, pyro_error *err)
{
    *removed = 0;
    struct dfs_ent run;
    pyro_error e2 = {0};
    if (dfs_lookup(img, "run", &run, &e2) < 0 || !S_ISDIR(run.mode)) {
        err_clear(&e2);
        return fsck(img, "discard", err); /* nothing to remove; still a checked image */
    }
    struct dfs_dir d = {0};
    int r = dfs_ls(img, run.ino, &d, NULL, err);
    _cleanup_free_ char *script = xasprintf("%s.scrub", path);
    _cleanup_fclose_ FILE *s = r == 0 ? fopen(script, "w+e") : NULL;
    if (r == 0 && !s)
        r = err_errno(err, errno, "create %s", script);
    unlink(script); /* read back through the open stream only */
    for (size_t i = 0; r == 0 && i < d.n; i++) {
        _cleanup_free_ char *sub = xasprintf("run/%s", d.v[i].name);
        if (!is_scrubbed(sub))
            continue;
        ++*removed;
        if (S_ISDIR(d.v[i].mode))
            r = collect(img, d.v[i].ino, s, 0, err);
        fprintf(s, "unlink /upper/%s\nkill_file <%lu>\nclri <%lu>\n", sub, d.v[i].ino, d.v[i].ino);
    }
    dir_free(&d);
    if (s && (fflush(s) != 0 || fseek(s, 0, SEEK_SET) != 0) && r == 0)
        r = err_errno(err, errno, "write %s", script);
    if (r == 0 && *removed) {
        char *args[] = {"-w", "-f", "-", NULL};
        struct proc_result res = {0};
        if ((r = dfs_run_in(args, img, fileno(s), 1u << 20, &res, err)) == 0)
            proc_result_free(&res);
    }
    /* The counts the removal left are corrected, then the freed blocks
     * (the removed files' data) are discarded: holes in the copy. */
    if (r == 0 && *removed)
        r = fsck(img, NULL, err);
    if (r == 0)
        r = fsck(img, "discard", err);
    return r;
}

int diskfs_list(const char *path, const char *rel, bool recursive, json_t **entries, bool *truncated, size_t *unlisted,
                pyro_error *err)
{
    struct dfs_img m;
    int r = img_open(path, false, &m, err);
    if (r == 0)
        r = list_img(&m, rel, recursive, entries, truncated, unlisted, err);
    img_close(&m);
    return r;
}

int diskfs_read(const char *path, const char *rel, size_t max, char **data, size_t *len, long long *size,
                pyro_error *err)
{
    struct dfs_img m;
    int r = img_open(path, false, &m, err);
    if (r == 0)
        r = read_img(&m, rel, max, data, len, size, err);
    img_close(&m);
    return r;
}

int diskfs_scrub(const char *path, int *removed, pyro_error *err)
{
    struct dfs_img m;
    int r = img_open(path, true, &m, err);
    if (r == 0)
        r = scrub_img(&m, path, removed, err);
    img_close(&m);
    return r;
}
