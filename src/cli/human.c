/* Human rendering of results (docs/cli.md, "Human output"): aligned
 * "key  value" blocks, nested objects as indented blocks, lists of objects
 * as tables, times as a date with a relative age, sizes in units, null as
 * "-", booleans as yes/no; never raw JSON. --json prints the result as it
 * is. */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "cli/cli.h"

#define CELL_MAX 48 /* a table cell longer than this is cut with "..." */

void human_size(long long b, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%lld B", b);
    else
        snprintf(buf, size, "%.1f %s", v, units[u]);
}

void human_age(int64_t at_ms, int64_t now_ms, char *buf, size_t size)
{
    int64_t d = now_ms - at_ms;
    bool future = d < 0;
    int64_t s = (future ? -d : d) / 1000;
    char n[32];
    if (s < 5) {
        snprintf(buf, size, future ? "in a moment" : "just now");
        return;
    }
    if (s < 90)
        snprintf(n, sizeof(n), "%lld s", (long long)s);
    else if (s < 90 * 60)
        snprintf(n, sizeof(n), "%lld min", (long long)(s + 30) / 60);
    else if (s < 36 * 3600)
        snprintf(n, sizeof(n), "%lld h", (long long)(s + 1800) / 3600);
    else
        snprintf(n, sizeof(n), "%lld d", (long long)(s + 43200) / 86400);
    snprintf(buf, size, future ? "in %s" : "%s ago", n);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* A scalar's text for key: times as "2026-11-30 22:17:21 (3 min ago)"
 * (short: only the age), sizes in units, durations in s. */
static char *scalar_text(const char *key, json_t *v, bool short_form)
{
    if (!v || json_is_null(v))
        return xstrdup("-");
    if (json_is_boolean(v))
        return xstrdup(json_is_true(v) ? "yes" : "no");
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        int64_t at = ends_with(key, "_at") || !strcmp(key, "at") || !strcmp(key, "since") || !strcmp(key, "mtime")
                         ? time_parse_iso(s)
                         : -1;
        if (at < 0)
            return xstrdup(s[0] ? s : "\"\"");
        char age[32];
        human_age(at, time_wall_ms(), age, sizeof(age));
        if (short_form)
            return xstrdup(age);
        return xasprintf("%.10s %.8s UTC (%s)", s, s + 11, age);
    }
    if (json_is_integer(v)) {
        long long n = json_integer_value(v);
        if (!strcmp(key, "mode") && n >= 0 && n <= 07777)
            return xasprintf("%04llo", n);
        if ((ends_with(key, "bytes") || ends_with(key, "_size") || !strcmp(key, "size")) && n >= 1024) {
            char b[32];
            human_size(n, b, sizeof(b));
            return short_form ? xstrdup(b) : xasprintf("%s (%lld bytes)", b, n);
        }
        if (ends_with(key, "_ms") && n >= 1000)
            return xasprintf("%.1f s", (double)n / 1000.0);
        return xasprintf("%lld", n);
    }
    if (json_is_real(v))
        return xasprintf("%g", json_real_value(v));
    return NULL;
}

static bool all_scalars(json_t *a)
{
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
        if (json_is_object(e) || json_is_array(e))
            return false;
    return true;
}

/* A value in one line: scalars as above, an object as "k=v, k=v", a list
 * of scalars joined by ", ", a list of objects by its count. */
static char *inline_text(const char *key, json_t *v)
{
    char *s = scalar_text(key, v, true);
    if (s)
        return s;
    if (json_is_array(v)) {
        if (json_array_size(v) == 0)
            return xstrdup("-");
        if (!all_scalars(v))
            return xasprintf("%zu items", json_array_size(v));
        char *out = xstrdup("");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            _cleanup_free_ char *t = scalar_text(key, e, true);
            char *n = xasprintf("%s%s%s", out, i ? ", " : "", t);
            free(out);
            out = n;
        }
        return out;
    }
    if (json_object_size(v) == 0)
        return xstrdup("-");
    char *out = xstrdup("");
    const char *k;
    json_t *e;
    bool first = true;
    json_object_foreach(v, k, e) {
        _cleanup_free_ char *t = inline_text(k, e);
        char *n = xasprintf("%s%s%s=%s", out, first ? "" : ", ", k, t);
        free(out);
        out = n;
        first = false;
    }
    return out;
}

/* The columns of a table: the keys of its rows, in first-seen order. */
static json_t *table_columns(json_t *rows)
{
    json_t *cols = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        const char *k;
        json_t *v;
        json_object_foreach(r, k, v) {
            bool seen = false;
            size_t j;
            json_t *c;
            json_array_foreach(cols, j, c)
                seen = seen || !strcmp(json_string_value(c), k);
            if (!seen)
                json_array_append_new(cols, json_string(k));
        }
    }
    return cols;
}

static char *cell(json_t *row, const char *key)
{
    char *t = inline_text(key, json_object_get(row, key));
    if (strlen(t) > CELL_MAX)
        strcpy(t + CELL_MAX - 3, "...");
    for (char *p = t; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    return t;
}

void human_table(json_t *rows, const char *const *columns, int indent)
{
    json_auto_t *cols = columns ? json_array() : table_columns(rows);
    for (size_t i = 0; columns && columns[i]; i++)
        json_array_append_new(cols, json_string(columns[i]));
    size_t ncol = json_array_size(cols), nrow = json_array_size(rows);
    if (ncol == 0)
        return;
    size_t *width = xcalloc(ncol, sizeof(*width));
    for (size_t c = 0; c < ncol; c++) {
        width[c] = strlen(json_string_value(json_array_get(cols, c)));
        for (size_t r = 0; r < nrow; r++) {
            _cleanup_free_ char *t = cell(json_array_get(rows, r), json_string_value(json_array_get(cols, c)));
            if (strlen(t) > width[c])
                width[c] = strlen(t);
        }
    }
    printf("%*s", indent, "");
    for (size_t c = 0; c < ncol; c++) {
        const char *h = json_string_value(json_array_get(cols, c));
        for (const char *p = h; *p; p++)
            putchar(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        printf("%*s", c + 1 < ncol ? (int)(width[c] - strlen(h) + 2) : 0, "");
    }
    putchar('\n');
    for (size_t r = 0; r < nrow; r++) {
        printf("%*s", indent, "");
        for (size_t c = 0; c < ncol; c++) {
            _cleanup_free_ char *t = cell(json_array_get(rows, r), json_string_value(json_array_get(cols, c)));
            printf("%s%*s", t, c + 1 < ncol ? (int)(width[c] - strlen(t) + 2) : 0, "");
        }
        putchar('\n');
    }
    free(width);
}

void human_block(json_t *obj, int indent)
{
    const char *k;
    json_t *v;
    size_t width = 0;
    json_object_foreach(obj, k, v)
        if (strlen(k) > width)
            width = strlen(k);
    json_object_foreach(obj, k, v) {
        bool nested = (json_is_object(v) && json_object_size(v) > 0) ||
                      (json_is_array(v) && json_array_size(v) > 0 && !all_scalars(v));
        if (nested) {
            printf("%*s%s:\n", indent, "", k);
            if (json_is_object(v))
                human_block(v, indent + 2);
            else
                human_table(v, NULL, indent + 2);
            continue;
        }
        _cleanup_free_ char *t = json_is_string(v) || !json_is_array(v) ? scalar_text(k, v, false) : NULL;
        if (!t)
            t = inline_text(k, v);
        const char *nl = strchr(t, '\n');
        if (nl && nl[1]) { /* text of several lines: below its key, indented */
            printf("%*s%s:\n", indent, "", k);
            for (char *line = t, *end; line && *line; line = end ? end + 1 : NULL) {
                end = strchr(line, '\n');
                printf("%*s%.*s\n", indent + 2, "", end ? (int)(end - line) : (int)strlen(line), line);
            }
            continue;
        }
        printf("%*s%-*s  %s\n", indent, "", (int)width, k, t);
    }
}
