/* Fuzz target: file names from a workspace in diff headers
 * (lib/workspace/cquote.c). The input is a file name (up to its first NUL).
 * Its quoted form and its header label never hold a newline or a control
 * character (so no name can forge a header line), a quoted form reads back
 * to exactly the name, and an unquoted one is the name itself, holding
 * nothing git would quote. Any input to the unquoting reader is either
 * refused or read within its bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "fuzz.h"
#include "lib/workspace/cquote.h"

static void check_line(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        CHECK(*p >= 0x20 && *p != 0x7f && *p < 0x80 ? 1 : *p == '\t' && p[1] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The reader on raw input: refused, or bounded. */
    if (size > 0 && data[0] == '"') {
        char *out = NULL;
        size_t out_len = 0, used = 0;
        if (cquote_unquote((const char *)data, size, &out, &out_len, &used) == 0) {
            CHECK(used >= 2 && used <= size && out != NULL && out_len <= size);
            free(out);
        }
    }
    _cleanup_free_ char *name = xmalloc(size + 1);
    memcpy(name, data, size);
    name[size] = '\0';
    size_t len = strlen(name);

    _cleanup_free_ char *q = cquote_name(name);
    check_line(q);
    if (q[0] == '"') {
        char *back = NULL;
        size_t back_len = 0, used = 0;
        CHECK(cquote_unquote(q, strlen(q), &back, &back_len, &used) == 0);
        CHECK(used == strlen(q) && back_len == len && memcmp(back, name, len) == 0);
        free(back);
    } else {
        CHECK(strcmp(q, name) == 0);
        for (const unsigned char *p = (const unsigned char *)name; *p; p++)
            CHECK(*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\');
    }
    for (int k = 0; k < 2; k++) {
        _cleanup_free_ char *label = cquote_label(k ? "b/" : "a/", name);
        check_line(label);
        if (label[0] == '"') {
            char *back = NULL;
            size_t back_len = 0, used = 0;
            CHECK(cquote_unquote(label, strlen(label), &back, &back_len, &used) == 0);
            CHECK(back_len == len + 2 && memcmp(back + 2, name, len) == 0);
            free(back);
        }
    }
    return 0;
}
