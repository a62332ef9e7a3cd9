/* Codex's config.toml, as far as pyro touches it: a scanner that checks
 * the whole file is well-formed TOML in structure (tables, keys, strings,
 * arrays, inline tables; scalar values loosely), finds the table
 * [mcp_servers.<name>] and its subtables, reads its command and args, and
 * replaces that one table leaving every other byte as it was. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "lib/host/chathost.h"

struct toml_scan {
    const char *s, *p;
    int line;
    char *table; /* the current [table] name, normalised */
    char *key;   /* the last key read, normalised */
    pyro_error *err;
    /* what chathost_toml_get and _put want */
    const char *want;                /* mcp_servers.<name> */
    size_t region_start, region_end; /* byte range of that table and its subtables; end 0: none */
    bool in_region;
    char *command;
    json_t *args;
};

static int scan_fail(struct toml_scan *t, const char *what)
{
    return err_set(t->err, -PYRO_E_INVALID, "invalid TOML at line %d: %s", t->line, what);
}

static void skip_ws(struct toml_scan *t)
{
    while (*t->p == ' ' || *t->p == '\t')
        t->p++;
}

/* Whitespace, newlines and comments (inside arrays). */
static void skip_ws_nl(struct toml_scan *t)
{
    for (;;) {
        skip_ws(t);
        if (*t->p == '#')
            while (*t->p && *t->p != '\n')
                t->p++;
        if (*t->p == '\r' && t->p[1] == '\n')
            t->p++;
        if (*t->p != '\n')
            return;
        t->p++;
        t->line++;
    }
}

/* A string starting at t->p; *out (when not NULL) gets its value (escapes
 * of basic strings decoded for \" \\ \n \t; others kept as written). */
static int scan_string(struct toml_scan *t, char **out)
{
    char q = *t->p;
    bool multi = t->p[1] == q && t->p[2] == q;
    t->p += multi ? 3 : 1;
    size_t cap = 64, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        char c = *t->p;
        if (!c || (!multi && c == '\n')) {
            free(buf);
            return scan_fail(t, "unterminated string");
        }
        if (c == q && (!multi || (t->p[1] == q && t->p[2] == q))) {
            t->p += multi ? 3 : 1;
            break;
        }
        if (c == '\n')
            t->line++;
        if (c == '\\' && q == '"') {
            char e = t->p[1];
            if (!e) {
                free(buf);
                return scan_fail(t, "unterminated string");
            }
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == '"' ? '"' : e == '\\' ? '\\' : 0;
            if (!c) { /* keep other escapes (\uXXXX, line continuations) as written */
                c = '\\';
                t->p--;
            }
            t->p++;
        }
        if (n + 2 > cap)
            buf = xrealloc(buf, cap *= 2);
        buf[n++] = c;
        t->p++;
    }
    buf[n] = '\0';
    if (out)
        *out = buf;
    else
        free(buf);
    return 0;
}

/* A (dotted) key up to stop ('=' or ']'), normalised "a.b.c". */
static int scan_key(struct toml_scan *t, char stop, char **out)
{
    size_t cap = 64, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        skip_ws(t);
        _cleanup_free_ char *part = NULL;
        if (*t->p == '"' || *t->p == '\'') {
            if (scan_string(t, &part) < 0) {
                free(buf);
                return -PYRO_E_INVALID;
            }
        } else {
            const char *b = t->p;
            while (isalnum((unsigned char)*t->p) || *t->p == '_' || *t->p == '-')
                t->p++;
            if (t->p == b) {
                free(buf);
                return scan_fail(t, stop == '=' ? "expected a key" : "expected a table name");
            }
            part = xstrndup(b, (size_t)(t->p - b));
        }
        size_t pl = strlen(part);
        if (n + pl + 2 > cap)
            buf = xrealloc(buf, cap = n + pl + 64);
        if (n)
            buf[n++] = '.';
        memcpy(buf + n, part, pl);
        n += pl;
        skip_ws(t);
        if (*t->p == '.') {
            t->p++;
            continue;
        }
        if (*t->p != stop) {
            free(buf);
            return scan_fail(t, stop == '=' ? "expected '=' after a key" : "expected ']' after a table name");
        }
        t->p++;
        buf[n] = '\0';
        *out = buf;
        return 0;
    }
}

static int scan_value(struct toml_scan *t, json_t *strings);

static int scan_array(struct toml_scan *t, json_t *strings)
{
    t->p++;
    for (;;) {
        skip_ws_nl(t);
        if (*t->p == ']') {
            t->p++;
            return 0;
        }
        if (scan_value(t, strings) < 0)
            return -PYRO_E_INVALID;
        skip_ws_nl(t);
        if (*t->p == ',') {
            t->p++;
            continue;
        }
        if (*t->p != ']')
            return scan_fail(t, "expected ',' or ']' in an array");
    }
}

static int scan_inline_table(struct toml_scan *t)
{
    t->p++;
    skip_ws(t);
    if (*t->p == '}') {
        t->p++;
        return 0;
    }
    for (;;) {
        _cleanup_free_ char *k = NULL;
        if (scan_key(t, '=', &k) < 0 || (skip_ws(t), scan_value(t, NULL)) < 0)
            return -PYRO_E_INVALID;
        skip_ws(t);
        if (*t->p == ',') {
            t->p++;
            continue;
        }
        if (*t->p != '}')
            return scan_fail(t, "expected ',' or '}' in an inline table");
        t->p++;
        return 0;
    }
}

/* A value; strings is an array collecting string elements (args), or NULL. */
static int scan_value(struct toml_scan *t, json_t *strings)
{
    if (*t->p == '"' || *t->p == '\'') {
        char *s = NULL;
        if (scan_string(t, &s) < 0)
            return -PYRO_E_INVALID;
        if (strings)
            json_array_append_new(strings, json_string(s));
        free(s);
        return 0;
    }
    if (*t->p == '[')
        return scan_array(t, strings);
    if (*t->p == '{')
        return scan_inline_table(t);
    const char *b = t->p;
    while (isalnum((unsigned char)*t->p) || strchr("+-_.:", *t->p) || (*t->p == ' ' && isdigit((unsigned char)t->p[1])))
        t->p++;
    if (t->p == b)
        return scan_fail(t, "expected a value");
    if (strings)
        json_array_append_new(strings, json_null()); /* not a string: args is then invalid */
    return 0;
}

/* The rest of a line after a statement: only a comment may follow. */
static int scan_eol(struct toml_scan *t)
{
    skip_ws(t);
    if (*t->p == '#')
        while (*t->p && *t->p != '\n')
            t->p++;
    if (*t->p == '\r')
        t->p++;
    if (*t->p && *t->p != '\n')
        return scan_fail(t, "unexpected text after a value");
    if (*t->p) {
        t->p++;
        t->line++;
    }
    return 0;
}

static bool in_want(const char *table, const char *want)
{
    size_t n = strlen(want);
    return !strncmp(table, want, n) && (table[n] == '\0' || table[n] == '.');
}

static int scan_statement(struct toml_scan *t)
{
    const char *start = t->p;
    skip_ws(t);
    if (*t->p == '#' || *t->p == '\n' || *t->p == '\r' || !*t->p)
        return scan_eol(t);
    if (*t->p == '[') {
        bool aot = t->p[1] == '[';
        t->p += aot ? 2 : 1;
        char *name = NULL;
        if (scan_key(t, ']', &name) < 0)
            return -PYRO_E_INVALID;
        if (aot && *t->p++ != ']') {
            free(name);
            return scan_fail(t, "expected ']]'");
        }
        free(t->table);
        t->table = name;
        bool now = t->want && in_want(name, t->want);
        if (now && !t->in_region && !t->region_end)
            t->region_start = (size_t)(start - t->s);
        if (!now && t->in_region)
            t->region_end = (size_t)(start - t->s);
        t->in_region = now;
        return scan_eol(t);
    }
    free(t->key);
    t->key = NULL;
    if (scan_key(t, '=', &t->key) < 0)
        return -PYRO_E_INVALID;
    skip_ws(t);
    bool mine = t->want && t->table && !strcmp(t->table, t->want);
    if (mine && !strcmp(t->key, "command") && (*t->p == '"' || *t->p == '\'')) {
        free(t->command);
        t->command = NULL;
        if (scan_string(t, &t->command) < 0)
            return -PYRO_E_INVALID;
    } else if (mine && !strcmp(t->key, "args") && *t->p == '[') {
        json_decref(t->args);
        t->args = json_array();
        if (scan_array(t, t->args) < 0)
            return -PYRO_E_INVALID;
    } else if (scan_value(t, NULL) < 0) {
        return -PYRO_E_INVALID;
    }
    return scan_eol(t);
}

static int scan_all(struct toml_scan *t, const char *text, const char *name, pyro_error *err)
{
    t->s = t->p = text ? text : "";
    t->line = 1;
    t->err = err;
    _cleanup_free_ char *want = name ? xasprintf("mcp_servers.%s", name) : NULL;
    t->want = want;
    while (*t->p)
        if (scan_statement(t) < 0)
            return -PYRO_E_INVALID;
    if (t->in_region && !t->region_end)
        t->region_end = (size_t)(t->p - t->s);
    t->want = NULL;
    return 0;
}

static void scan_clear(struct toml_scan *t)
{
    free(t->table);
    free(t->key);
    free(t->command);
    json_decref(t->args);
}

int chathost_toml_check(const char *text, pyro_error *err)
{
    struct toml_scan t = {0};
    int r = scan_all(&t, text, NULL, err);
    scan_clear(&t);
    return r;
}

int chathost_toml_get(const char *text, const char *name, char **command, json_t **args, pyro_error *err)
{
    struct toml_scan t = {0};
    int r = scan_all(&t, text, name, err);
    if (r == 0 && !t.region_end)
        r = -ENOENT;
    if (r == 0) {
        *command = t.command;
        *args = t.args ? t.args : json_array();
        t.command = NULL;
        t.args = NULL;
    }
    scan_clear(&t);
    return r;
}

static void put_quoted(char **buf, size_t *n, size_t *cap, const char *s)
{
    size_t need = *n + strlen(s) * 6 + 4;
    if (need > *cap)
        *buf = xrealloc(*buf, *cap = need + 256);
    char *o = *buf + *n;
    *o++ = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            *o++ = '\\';
            *o++ = (char)*c;
        } else if (*c < 0x20 || *c == 0x7f) {
            o += sprintf(o, "\\u%04x", *c);
        } else {
            *o++ = (char)*c;
        }
    }
    *o++ = '"';
    *n = (size_t)(o - *buf);
    (*buf)[*n] = '\0';
}

static void put_raw(char **buf, size_t *n, size_t *cap, const char *s)
{
    size_t l = strlen(s);
    if (*n + l + 1 > *cap)
        *buf = xrealloc(*buf, *cap = *n + l + 256);
    memcpy(*buf + *n, s, l + 1);
    *n += l;
}

char *chathost_toml_table(const char *name, const char *command, const json_t *args)
{
    size_t cap = 256, n = 0;
    char *buf = xmalloc(cap);
    buf[0] = '\0';
    put_raw(&buf, &n, &cap, "[mcp_servers.");
    put_raw(&buf, &n, &cap, name);
    put_raw(&buf, &n, &cap, "]\ncommand = ");
    put_quoted(&buf, &n, &cap, command);
    put_raw(&buf, &n, &cap, "\nargs = [");
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a) {
        if (i)
            put_raw(&buf, &n, &cap, ", ");
        put_quoted(&buf, &n, &cap, json_string_value(a));
    }
    put_raw(&buf, &n, &cap, "]\n");
    return buf;
}

char *chathost_toml_put(const char *text, const char *name, const char *command, const json_t *args)
{
    struct toml_scan t = {0};
    pyro_error err = {0};
    text = text ? text : "";
    if (scan_all(&t, text, name, &err) < 0) { /* callers check first */
        scan_clear(&t);
        return NULL;
    }
    _cleanup_free_ char *table = chathost_toml_table(name, command, args);
    char *out;
    if (t.region_end) {
        const char *tail = text + t.region_end;
        const char *sep = *tail ? "\n" : "";
        out = xasprintf("%.*s%s%s%s", (int)t.region_start, text, table, sep, tail);
    } else {
        size_t l = strlen(text);
        const char *sep = !l ? "" : text[l - 1] == '\n' ? "\n" : "\n\n";
        out = xasprintf("%s%s%s", text, sep, table);
    }
    scan_clear(&t);
    return out;
}
