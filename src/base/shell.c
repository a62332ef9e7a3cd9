/* Shell quoting for commands given as argv. */
#include "base/shell.h"

#include <stdbool.h>
#include <string.h>

#include "base/cleanup.h"

char *shell_join_command(int argc, char **argv)
{
    if (argc == 1)
        return xstrdup(argv[0]);
    size_t cap = 1;
    for (int i = 0; i < argc; i++)
        cap += strlen(argv[i]) * 4 + 3;
    char *out = xmalloc(cap), *o = out;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool plain = a[0] != '\0';
        for (const char *c = a; *c; c++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%", *c))
                plain = false;
        if (i)
            *o++ = ' ';
        if (plain) {
            o = stpcpy(o, a);
            continue;
        }
        *o++ = '\'';
        for (const char *c = a; *c; c++) {
            if (*c == '\'')
                o = stpcpy(o, "'\\''");
            else
                *o++ = *c;
        }
        *o++ = '\'';
    }
    *o = '\0';
    return out;
}

/* A character that means something to the shell beyond words and quotes. */
static bool shell_meta(char c)
{
    return strchr("|&;<>()$`*?[]{}~#\n", c) != NULL;
}

char **shell_split_words(const char *command)
{
    size_t len = strlen(command), n = 0;
    char **v = xcalloc(len / 2 + 2, sizeof(char *));
    char *word = xmalloc(len + 1);
    const char *p = command;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t w = 0;
        while (*p && *p != ' ' && *p != '\t') {
            if (*p == '\'') {
                const char *e = strchr(p + 1, '\'');
                if (!e)
                    goto bad;
                memcpy(word + w, p + 1, (size_t)(e - p - 1));
                w += (size_t)(e - p - 1);
                p = e + 1;
            } else if (*p == '"') {
                for (p++; *p != '"'; p++) {
                    if (!*p || *p == '$' || *p == '`')
                        goto bad;
                    if (*p == '\\' && p[1] && strchr("\"\\", p[1]))
                        p++;
                    word[w++] = *p;
                }
                p++;
            } else if (*p == '\\') {
                if (!p[1] || p[1] == '\n')
                    goto bad;
                word[w++] = p[1];
                p += 2;
            } else if (shell_meta(*p)) {
                goto bad;
            } else {
                word[w++] = *p++;
            }
        }
        word[w] = '\0';
        v[n++] = xstrdup(word);
    }
    free(word);
    if (n == 0) {
        free(v);
        return NULL;
    }
    return v;
bad:
    free(word);
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return NULL;
}
