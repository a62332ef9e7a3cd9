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
