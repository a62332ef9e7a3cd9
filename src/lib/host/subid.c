#include "lib/host/subid.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/idmap.h"

int subid_ranges_read(const char *file, struct idmap_subid **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    _cleanup_fclose_ FILE *f = fopen(file, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    struct idmap_subid *r = NULL;
    size_t cap = 0, len = 0;
    char line[512];
    while (len < SUBID_MAX_RANGES && fgets(line, sizeof(line), f)) {
        struct idmap_subid one;
        if (!idmap_subid_parse(line, &one))
            continue;
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            r = xrealloc(r, cap * sizeof(*r));
        }
        r[len++] = one;
    }
    *out = r;
    *n = len;
    return 0;
}

bool subid_overlap(unsigned long a, unsigned long acount, unsigned long b, unsigned long bcount)
{
    return acount && bcount && a < b + bcount && b < a + acount;
}

unsigned long subid_free_start(const struct idmap_subid *r, size_t n, unsigned long min, uint32_t count)
{
    unsigned long start = min;
    for (bool moved = true; moved;) {
        moved = false;
        for (size_t i = 0; i < n; i++)
            if (subid_overlap(start, count, r[i].start, r[i].count)) {
                start = r[i].start + r[i].count;
                moved = true;
            }
    }
    return start;
}

static void file_eval(const char *file, const char *name, unsigned long uid, struct subid_file_eval *e)
{
    *e = (struct subid_file_eval){0};
    pyro_error err = {0};
    uint32_t got;
    int r = idmap_subid_find(file, name, uid, IDMAP_COUNT, &e->start, &got, &err);
    if (r == 0) {
        e->ok = e->any = true;
        return;
    }
    unsigned long small;
    if (r == -ENOENT)
        e->any = idmap_subid_find(file, name, uid, 1, &small, &got, &err) == 0;
    else
        e->error = -r;
}

void subid_user_eval(const char *subuid, const char *subgid, const char *name, unsigned long uid,
                     struct subid_file_eval *u, struct subid_file_eval *g)
{
    file_eval(subuid, name, uid, u);
    file_eval(subgid, name, uid, g);
}

size_t subid_ready_users(const char *subuid, const char *subgid, char *buf, size_t size)
{
    if (size)
        buf[0] = '\0';
    _cleanup_free_ struct idmap_subid *r = NULL;
    size_t n = 0, ready = 0, used = 0;
    if (subid_ranges_read(subuid, &r, &n) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].count < IDMAP_COUNT)
            continue;
        bool seen = false; /* a user with two large ranges counts once */
        for (size_t j = 0; j < i && !seen; j++)
            seen = r[j].count >= IDMAP_COUNT && !strcmp(r[j].owner, r[i].owner);
        char *end;
        unsigned long uid = strtoul(r[i].owner, &end, 10);
        struct passwd *pw = *end == '\0' ? getpwuid((uid_t)uid) : getpwnam(r[i].owner);
        if (seen || !pw) /* a range of no user is no one's */
            continue;
        struct subid_file_eval g;
        file_eval(subgid, pw->pw_name, pw->pw_uid, &g);
        if (!g.ok)
            continue;
        ready++;
        if (used < size)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", ready > 1 ? ", " : "", r[i].owner);
    }
    return ready;
}

struct overlaps {
    unsigned long base, count, next;
    char (*out)[SUBID_OVERLAP_TEXT];
    size_t max, n;
};

static void overlap_add(struct overlaps *o, unsigned long start, unsigned long count, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void overlap_add(struct overlaps *o, unsigned long start, unsigned long count, const char *fmt, ...)
{
    if (!subid_overlap(o->base, o->count, start, count))
        return;
    if (start + count > o->next)
        o->next = start + count;
    if (o->n < o->max) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(o->out[o->n], SUBID_OVERLAP_TEXT, fmt, ap);
        va_end(ap);
    }
    o->n++;
}

static void ranges_overlaps(struct overlaps *o, const char *file, const char *kind)
{
    _cleanup_free_ struct idmap_subid *r = NULL;
    size_t n = 0;
    if (subid_ranges_read(file, &r, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        overlap_add(o, r[i].start, r[i].count, "%s range of %s %lu-%lu", kind, r[i].owner, r[i].start,
                    r[i].start + r[i].count - 1);
}

static void passwd_overlaps(struct overlaps *o, const char *file)
{
    _cleanup_fclose_ FILE *f = file ? fopen(file, "re") : NULL;
    if (file && !f)
        return;
    if (!file)
        setpwent();
    struct passwd *pw;
    while ((pw = file ? fgetpwent(f) : getpwent()))
        overlap_add(o, pw->pw_uid, 1, "uid %lu (%s)", (unsigned long)pw->pw_uid, pw->pw_name);
    if (!file)
        endpwent();
}

static void group_overlaps(struct overlaps *o, const char *file)
{
    _cleanup_fclose_ FILE *f = file ? fopen(file, "re") : NULL;
    if (file && !f)
        return;
    if (!file)
        setgrent();
    struct group *gr;
    while ((gr = file ? fgetgrent(f) : getgrent()))
        overlap_add(o, gr->gr_gid, 1, "gid %lu (%s)", (unsigned long)gr->gr_gid, gr->gr_name);
    if (!file)
        endgrent();
}

size_t subid_pool_overlaps(unsigned long base, uint32_t count, const char *subuid, const char *subgid,
                           const char *passwd, const char *group, char (*out)[SUBID_OVERLAP_TEXT], size_t max,
                           unsigned long *next)
{
    struct overlaps o = {.base = base, .count = count, .next = base, .out = out, .max = max};
    ranges_overlaps(&o, subuid, "subuid");
    ranges_overlaps(&o, subgid, "subgid");
    passwd_overlaps(&o, passwd);
    group_overlaps(&o, group);
    *next = o.next;
    return o.n;
}
