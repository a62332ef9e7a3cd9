#include "base/mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "base/cleanup.h"

#define CONTROLLERS_MAX 4096

/* Undoes the kernel's \ooo escapes in place. A escaped NUL would cut the
 * field short: false. */
static bool unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
            char c = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            if (!c)
                return false;
            *w++ = c;
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return true;
}

/* The next space-separated field (fields are separated by one space). */
static char *next_field(char **cur)
{
    char *s = *cur;
    if (!s || !*s)
        return NULL;
    char *sp = strchr(s, ' ');
    if (sp) {
        *sp = '\0';
        *cur = sp + 1;
    } else {
        *cur = NULL;
    }
    return s;
}

static bool parse_uint(const char *s, char stop, unsigned long max, unsigned long *out, const char **end)
{
    unsigned long v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > max)
            return false;
    }
    if (p == s || *p != stop)
        return false;
    *out = v;
    if (end)
        *end = p;
    return true;
}

int mountinfo_parse_line(char *line, struct mountinfo_entry *e)
{
    memset(e, 0, sizeof(*e));
    line[strcspn(line, "\n")] = '\0';
    char *cur = line;
    char *id = next_field(&cur), *parent = next_field(&cur), *dev = next_field(&cur);
    e->root = next_field(&cur);
    e->mount_point = next_field(&cur);
    e->mount_opts = next_field(&cur);
    if (!e->mount_opts)
        return -PYRO_E_INVALID;
    unsigned long v, major, minor;
    const char *colon;
    if (!parse_uint(id, '\0', 0x7fffffff, &v, NULL))
        return -PYRO_E_INVALID;
    e->id = (int)v;
    if (!parse_uint(parent, '\0', 0x7fffffff, &v, NULL))
        return -PYRO_E_INVALID;
    e->parent = (int)v;
    if (!parse_uint(dev, ':', 0xffffffff, &major, &colon) || !parse_uint(colon + 1, '\0', 0xffffffff, &minor, NULL))
        return -PYRO_E_INVALID;
    e->major = (unsigned)major;
    e->minor = (unsigned)minor;
    /* Optional fields ("shared:1", "master:2", ...) up to the separator. */
    char *f;
    while ((f = next_field(&cur)) && strcmp(f, "-") != 0)
        ;
    if (!f)
        return -PYRO_E_INVALID;
    e->fstype = next_field(&cur);
    e->source = next_field(&cur);
    e->super_opts = next_field(&cur);
    if (!e->super_opts || !*e->fstype)
        return -PYRO_E_INVALID;
    if (!unescape(e->root) || !unescape(e->mount_point) || !unescape(e->fstype) || !unescape(e->source))
        return -PYRO_E_INVALID;
    if (e->root[0] != '/' || e->mount_point[0] != '/')
        return -PYRO_E_INVALID;
    return 0;
}

int mountinfo_each(const char *path, int (*fn)(const struct mountinfo_entry *e, void *ctx), void *ctx, pyro_error *err)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return err_errno(err, errno, "open %s", path);
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    for (int n = 0; (len = getline(&line, &cap, f)) > 0; n++) {
        if (n >= MOUNTINFO_MAX_LINES)
            return err_set(err, -PYRO_E_LIMIT, "%s: more than %d mounts", path, MOUNTINFO_MAX_LINES);
        if (len > MOUNTINFO_LINE_MAX)
            return err_set(err, -PYRO_E_LIMIT, "%s: line %d is longer than %d bytes", path, n + 1, MOUNTINFO_LINE_MAX);
        struct mountinfo_entry e;
        if (mountinfo_parse_line(line, &e) < 0)
            continue;
        int r = fn(&e, ctx);
        if (r < 0)
            return r;
        if (r > 0)
            break;
    }
    if (ferror(f))
        return err_errno(err, errno ? errno : EIO, "read %s", path);
    return 0;
}

bool mountinfo_opt_has(const char *opts, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = opts; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

struct below {
    const char *dir;
    size_t dlen;
    char **found;
    size_t n;
};

static int on_mount_below(const struct mountinfo_entry *e, void *ctx)
{
    struct below *b = ctx;
    const char *m = e->mount_point;
    if (strncmp(m, b->dir, b->dlen) != 0 || (m[b->dlen] != '/' && m[b->dlen] != '\0'))
        return 0;
    b->found = xrealloc(b->found, (b->n + 1) * sizeof(*b->found));
    b->found[b->n++] = xstrdup(m);
    return 0;
}

int mountinfo_unmount_below(const char *path, const char *dir, pyro_error *err)
{
    /* "/a/b/" and "/a/b" name the same place. */
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    struct below b = {.dir = dir, .dlen = dlen};
    int r = mountinfo_each(path, on_mount_below, &b, err);
    /* Children come after their parents in the table: detach from the end,
     * every one even after a failure (the first is reported). */
    for (size_t i = b.n; i-- > 0;) {
        if (umount2(b.found[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT && r == 0)
            r = err_errno(err, errno, "unmount %s", b.found[i]);
        free(b.found[i]);
    }
    free(b.found);
    return r;
}

struct cgroup_scan {
    struct mountinfo_cgroups *m;
    const char *path;
    pyro_error *err;
};

static int on_cgroup_mount(const struct mountinfo_entry *e, void *ctx)
{
    struct cgroup_scan *s = ctx;
    struct mountinfo_cgroups *m = s->m;
    if (!strcmp(e->fstype, "cgroup2")) {
        /* Prefer the canonical place when cgroup2 is mounted twice. */
        if (!m->v2 || !strcmp(e->mount_point, "/sys/fs/cgroup")) {
            free(m->v2);
            m->v2 = xstrdup(e->mount_point);
        }
    } else if (!strcmp(e->fstype, "cgroup")) {
        if (m->v1_count >= MOUNTINFO_CGROUP_V1_MAX)
            return err_set(s->err, -PYRO_E_LIMIT, "%s: more than %d cgroup v1 hierarchies", s->path,
                           MOUNTINFO_CGROUP_V1_MAX);
        m->v1_mount[m->v1_count] = xstrdup(e->mount_point);
        m->v1_opts[m->v1_count++] = xstrdup(e->super_opts);
    }
    return 0;
}

static char *read_controllers(const char *v2)
{
    _cleanup_free_ char *path = xasprintf("%s/cgroup.controllers", v2);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = xmalloc(CONTROLLERS_MAX + 1);
    size_t len = 0;
    ssize_t n;
    while (len < CONTROLLERS_MAX && (n = read(fd, buf + len, CONTROLLERS_MAX - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(buf);
            return NULL;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

int mountinfo_cgroups(const char *path, struct mountinfo_cgroups *out, pyro_error *err)
{
    memset(out, 0, sizeof(*out));
    struct cgroup_scan s = {.m = out, .path = path, .err = err};
    int r = mountinfo_each(path, on_cgroup_mount, &s, err);
    if (r < 0) {
        mountinfo_cgroups_free(out);
        return r;
    }
    if (out->v2)
        out->v2_controllers = read_controllers(out->v2);
    return 0;
}

void mountinfo_cgroups_free(struct mountinfo_cgroups *m)
{
    free(m->v2);
    free(m->v2_controllers);
    for (int i = 0; i < m->v1_count; i++) {
        free(m->v1_mount[i]);
        free(m->v1_opts[i]);
    }
    memset(m, 0, sizeof(*m));
}

const char *mountinfo_cgroup_v1(const struct mountinfo_cgroups *m, const char *controller)
{
    for (int i = 0; i < m->v1_count; i++)
        if (mountinfo_opt_has(m->v1_opts[i], controller))
            return m->v1_mount[i];
    return NULL;
}

bool mountinfo_cgroup_v2_has(const struct mountinfo_cgroups *m, const char *controller)
{
    size_t n = strlen(controller);
    for (const char *p = m->v2_controllers; p && *p;) {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);
        if (len == n && !strncmp(p, controller, n))
            return true;
        p = sp ? sp + 1 : NULL;
    }
    return false;
}
