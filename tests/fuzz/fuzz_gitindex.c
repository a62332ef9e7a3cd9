/* Fuzz target: the git index reader (lib/workspace/gitindex.c), which reads
 * a repository's untrusted .git/index, and the reader of quoted file names
 * in patch headers (lib/workspace/cquote.c). Whatever the bytes: an error
 * with a message, or a list of non-empty path strings; a quoted name reads
 * back to what quoting it gives. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "fuzz.h"
#include "lib/workspace/cquote.h"
#include "lib/workspace/gitindex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pyro_error err = {0};
    json_t *paths = NULL;
    /* An exact-size copy, so that any read past the end is caught. */
    unsigned char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    int r = gitindex_parse(copy, size, &paths, &err);
    if (r < 0) {
        if (!err.message[0] || paths)
            abort();
    } else {
        size_t i;
        json_t *p;
        json_array_foreach(paths, i, p)
            if (!json_is_string(p) || !json_string_length(p))
                abort();
        json_decref(paths);
    }
    /* The same bytes as a quoted name. */
    if (size && data[0] == '"') {
        char *name = NULL;
        size_t len = 0, used = 0;
        if (cquote_unquote((const char *)copy, size, &name, &len, &used) == 0) {
            if (used > size || name[len] != '\0')
                abort();
            if (strlen(name) == len) {
                /* Quoting it again reads back to the same name. */
                char *label = cquote_label("", name);
                char *back = NULL;
                size_t blen = 0, bused = 0;
                if (label[0] == '"' &&
                    (cquote_unquote(label, strlen(label), &back, &blen, &bused) < 0 || strcmp(back, name)))
                    abort();
                free(back);
                free(label);
            }
            free(name);
        } else if (name)
            abort();
    }
    free(copy);
    return 0;
}
