#include "lib/workspace/patch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "lib/workspace/cquote.h"
#include "lib/workspace/textdiff.h"

struct cursor {
    const char *p, *end;
    long lineno;
};

/* The next line without its newline; false at the end. */
static bool next_line(struct cursor *c, const char **line, size_t *len, bool *nl)
{
    if (c->p >= c->end)
        return false;
    const char *e = memchr(c->p, '\n', (size_t)(c->end - c->p));
    *line = c->p;
    *len = e ? (size_t)(e - c->p) : (size_t)(c->end - c->p);
    *nl = e != NULL;
    c->p = e ? e + 1 : c->end;
    c->lineno++;
    return true;
}

static bool starts(const char *l, size_t len, const char *pfx)
{
    size_t n = strlen(pfx);
    return len >= n && memcmp(l, pfx, n) == 0;
}

/* "--- a/path\tdate" -> "path"; "/dev/null" -> NULL. A name in double
 * quotes is unquoted as git writes it (lib/workspace/cquote.h). *bad is
 * set for a malformed quote or a NUL in a name. */
static char *header_path(const char *l, size_t len, bool *bad)
{
    size_t i = 4, end = len;
    char *p;
    *bad = false;
    if (i < len && l[i] == '"') {
        size_t plen = 0, used = 0;
        if (cquote_unquote(l + i, len - i, &p, &plen, &used) < 0 || strlen(p) != plen) {
            free(p);
            *bad = true;
            return NULL;
        }
    } else {
        /* Up to a tab (git ends names with spaces with one), else the line
         * without trailing blanks. */
        bool tab = false;
        for (size_t k = i; k < len && !tab; k++)
            if (l[k] == '\t') {
                end = k;
                tab = true;
            }
        while (end > i && (l[end - 1] == '\r' || (!tab && l[end - 1] == ' ')))
            end--;
        p = xstrndup(l + i, end - i);
        if (!strcmp(p, "/dev/null")) {
            free(p);
            return NULL;
        }
    }
    if ((p[0] == 'a' || p[0] == 'b') && p[1] == '/') {
        char *q = xstrdup(p + 2);
        free(p);
        return q;
    }
    return p;
}

static bool parse_range(const char **s, long *start, long *len)
{
    char *e;
    *start = strtol(*s, &e, 10);
    if (e == *s || *start < 0)
        return false;
    *len = 1;
    if (*e == ',') {
        const char *q = e + 1;
        *len = strtol(q, &e, 10);
        if (e == q || *len < 0)
            return false;
    }
    *s = e;
    return true;
}

static bool parse_hunk_header(const char *l, size_t len, struct patch_hunk *h)
{
    _cleanup_free_ char *s = xstrndup(l, len);
    const char *p = s + 3;
    if (*p++ != '-' || !parse_range(&p, &h->old_start, &h->old_len) || *p++ != ' ' || *p++ != '+' ||
        !parse_range(&p, &h->new_start, &h->new_len) || strncmp(p, " @@", 3) != 0)
        return false;
    return true;
}

void patch_set_free(struct patch_set *ps)
{
    for (size_t i = 0; i < ps->nfiles; i++) {
        struct patch_file *f = &ps->files[i];
        free(f->old_path);
        free(f->new_path);
        for (size_t j = 0; j < f->nhunks; j++)
            free(f->hunks[j].lines);
        free(f->hunks);
    }
    free(ps->files);
    ps->files = NULL;
    ps->nfiles = 0;
}

const char *patch_file_path(const struct patch_file *pf)
{
    return pf->new_path ? pf->new_path : pf->old_path;
}

static int parse_hunks(struct cursor *c, struct patch_file *f, pyro_error *err)
{
    const char *l;
    size_t len;
    bool nl;
    for (;;) {
        struct cursor save = *c;
        if (!next_line(c, &l, &len, &nl))
            return 0;
        if (!starts(l, len, "@@ ")) {
            *c = save;
            return 0;
        }
        f->hunks = xrealloc(f->hunks, (f->nhunks + 1) * sizeof(*f->hunks));
        struct patch_hunk *h = &f->hunks[f->nhunks++];
        memset(h, 0, sizeof(*h));
        if (!parse_hunk_header(l, len, h))
            return err_set(err, -PYRO_E_INVALID, "patch line %ld: malformed hunk header in %s (hunk %zu)", c->lineno,
                           patch_file_path(f), f->nhunks);
        long old_left = h->old_len, new_left = h->new_len;
        /* Every hunk line takes at least one byte of what is left: counts
         * beyond that are refused before anything is allocated for them. */
        long left = (long)(c->end - c->p);
        if (old_left > left || new_left > left || old_left + new_left > left)
            return err_set(err, -PYRO_E_INVALID, "patch line %ld: hunk %zu of %s counts more lines than the patch has",
                           c->lineno, f->nhunks, patch_file_path(f));
        size_t cap = (size_t)(old_left + new_left) + 1;
        h->lines = xmalloc(cap * sizeof(*h->lines));
        while (old_left > 0 || new_left > 0) {
            if (!next_line(c, &l, &len, &nl))
                return err_set(err, -PYRO_E_INVALID, "patch ends inside hunk %zu of %s", f->nhunks, patch_file_path(f));
            if (starts(l, len, "\\ ")) {
                if (h->nlines)
                    h->lines[h->nlines - 1].nl = false;
                continue;
            }
            char op = len ? l[0] : ' '; /* an empty line: context whose space was stripped */
            if ((op == ' ' && (old_left <= 0 || new_left <= 0)) || (op == '-' && old_left <= 0) ||
                (op == '+' && new_left <= 0) || (op != ' ' && op != '-' && op != '+'))
                return err_set(err, -PYRO_E_INVALID,
                               "patch line %ld: hunk %zu of %s does not match its header's line counts", c->lineno,
                               f->nhunks, patch_file_path(f));
            if (op != '+')
                old_left--;
            if (op != '-')
                new_left--;
            h->lines[h->nlines++] =
                (struct patch_line){.op = op, .text = len ? l + 1 : l, .len = len ? len - 1 : 0, .nl = true};
        }
        /* A "\ No newline" marker may follow the hunk's last line; more
         * hunk lines mean the header's counts are wrong. */
        struct cursor s2 = *c;
        if (next_line(c, &l, &len, &nl) && starts(l, len, "\\ ")) {
            if (h->nlines)
                h->lines[h->nlines - 1].nl = false;
        } else {
            if (c->lineno > s2.lineno && len &&
                (l[0] == '+' || l[0] == ' ' || (l[0] == '-' && !starts(l, len, "--- "))))
                return err_set(err, -PYRO_E_INVALID,
                               "patch line %ld: hunk %zu of %s has more lines than its header says", c->lineno,
                               f->nhunks, patch_file_path(f));
            *c = s2;
        }
    }
}

int patch_parse(const char *text, size_t len, struct patch_set *ps, pyro_error *err)
{
    struct cursor c = {.p = text, .end = text + len};
    const char *l;
    size_t ll;
    bool nl;
    memset(ps, 0, sizeof(*ps));
    while (next_line(&c, &l, &ll, &nl)) {
        if (!starts(l, ll, "--- "))
            continue; /* "diff --git", "index", commentary */
        const char *l2;
        size_t l2len;
        if (!next_line(&c, &l2, &l2len, &nl) || !starts(l2, l2len, "+++ ")) {
            patch_set_free(ps);
            return err_set(err, -PYRO_E_INVALID, "patch line %ld: '---' header without a '+++' line", c.lineno);
        }
        ps->files = xrealloc(ps->files, (ps->nfiles + 1) * sizeof(*ps->files));
        struct patch_file *f = &ps->files[ps->nfiles++];
        memset(f, 0, sizeof(*f));
        bool bad_old, bad_new;
        f->old_path = header_path(l, ll, &bad_old);
        f->new_path = header_path(l2, l2len, &bad_new);
        if (bad_old || bad_new) {
            patch_set_free(ps);
            return err_set(err, -PYRO_E_INVALID, "patch line %ld: malformed quoted file name", c.lineno - !bad_new);
        }
        if (!f->old_path && !f->new_path) {
            patch_set_free(ps);
            return err_set(err, -PYRO_E_INVALID, "patch line %ld: both sides are /dev/null", c.lineno);
        }
        int r = parse_hunks(&c, f, err);
        if (r < 0) {
            patch_set_free(ps);
            return r;
        }
        if (!f->nhunks) {
            int code = err_set(err, -PYRO_E_INVALID, "patch line %ld: %s has no hunks", c.lineno, patch_file_path(f));
            patch_set_free(ps);
            return code;
        }
    }
    if (!ps->nfiles)
        return err_set(err, -PYRO_E_INVALID, "the patch contains no '--- ' / '+++ ' file headers");
    return 0;
}

static void show(char *buf, size_t size, const char *p, size_t len)
{
    size_t n = len < size - 1 ? len : size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    for (char *c = buf; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = '?';
}

int patch_apply_file(const struct patch_file *pf, bool exists, const char *content, size_t len, char **out,
                     size_t *out_len, pyro_error *err)
{
    const char *path = patch_file_path(pf);
    if (!pf->old_path && exists)
        return err_set(err, -PYRO_E_INVALID, "patch creates %s, which already exists", path);
    if (pf->old_path && !exists)
        return err_set(err, -PYRO_E_NOT_FOUND, "patch changes %s, which does not exist", path);
    _cleanup_free_ struct td_line *lines = NULL;
    size_t n = exists ? td_split(content, len, &lines) : 0;
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (!f)
        abort();
    size_t pos = 0;
    int r = 0;
    for (size_t hi = 0; hi < pf->nhunks && r == 0; hi++) {
        const struct patch_hunk *h = &pf->hunks[hi];
        size_t start = h->old_len == 0 ? (size_t)h->old_start : (size_t)(h->old_start > 0 ? h->old_start - 1 : 0);
        if (start < pos || start > n) {
            r = err_set(err, -PYRO_E_INVALID, "%s: hunk %zu (@@ -%ld,%ld +%ld,%ld @@) starts at line %ld, %s", path,
                        hi + 1, h->old_start, h->old_len, h->new_start, h->new_len, h->old_start,
                        start > n ? "past the end of the file" : "before the previous hunk ends");
            break;
        }
        for (; pos < start; pos++) {
            fwrite(lines[pos].p, 1, lines[pos].len, f);
            if (lines[pos].nl)
                fputc('\n', f);
        }
        for (size_t k = 0; k < h->nlines && r == 0; k++) {
            const struct patch_line *pl = &h->lines[k];
            if (pl->op == '+') {
                fwrite(pl->text, 1, pl->len, f);
                if (pl->nl)
                    fputc('\n', f);
                continue;
            }
            struct td_line want = {.p = pl->text, .len = pl->len, .nl = pl->nl};
            if (pos >= n || !td_line_eq(&want, &lines[pos])) {
                char w[81], g[81];
                show(w, sizeof(w), pl->text, pl->len);
                if (pos < n)
                    show(g, sizeof(g), lines[pos].p, lines[pos].len);
                r = err_set(err, -PYRO_E_INVALID,
                            "%s: hunk %zu (@@ -%ld,%ld +%ld,%ld @@) does not apply: line %zu should be '%s'%s "
                            "but is %s%s%s",
                            path, hi + 1, h->old_start, h->old_len, h->new_start, h->new_len, pos + 1, w,
                            pl->nl ? "" : " (no newline at end)", pos < n ? "'" : "",
                            pos < n ? g : "past the end of the file", pos < n ? "'" : "");
                break;
            }
            if (pl->op == ' ') {
                fwrite(lines[pos].p, 1, lines[pos].len, f);
                if (lines[pos].nl)
                    fputc('\n', f);
            }
            pos++;
        }
    }
    for (; r == 0 && pos < n; pos++) {
        fwrite(lines[pos].p, 1, lines[pos].len, f);
        if (lines[pos].nl)
            fputc('\n', f);
    }
    fclose(f);
    if (r == 0 && !pf->new_path && blen != 0)
        r = err_set(err, -PYRO_E_INVALID, "patch deletes %s but its hunks do not remove the whole file", path);
    if (r < 0) {
        free(buf);
        return r;
    }
    *out = buf;
    *out_len = blen;
    return 0;
}
