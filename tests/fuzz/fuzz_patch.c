/* Fuzz target: unified diffs from callers (src/lib/workspace/patch.c),
 * parsed and applied to a small in-memory text. Input: the text, a NUL
 * byte, the patch (no NUL: an empty text and the whole input as patch).
 *
 * Whatever the bytes: parsing either fails with -PYRO_E_INVALID and a
 * message or yields files with at least one hunk and a path; applying
 * either fails with a message or yields a new text, which for a deletion
 * is empty. Allocation is bounded by the input (hunk counts beyond what the
 * patch holds are refused). A result is also diffed back with textdiff and
 * that diff, parsed and applied to the original text, gives the result
 * again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "fuzz.h"
#include "lib/workspace/patch.h"
#include "lib/workspace/textdiff.h"

/* Keeps one iteration small: the text is at most this long. */
#define TEXT_MAX 4096

/* textdiff's output for (a, b), parsed and applied to a, is b. */
static void check_roundtrip(const char *a, size_t alen, const char *b, size_t blen)
{
    char *d = NULL;
    size_t dlen = 0;
    FILE *f = open_memstream(&d, &dlen);
    CHECK(f);
    int r = textdiff_unified(f, a, alen, b, blen, "a/f", "b/f", TEXTDIFF_MAX_EDITS, NULL);
    fclose(f);
    if (r < 0 || dlen == 0) {
        CHECK(r == -PYRO_E_LIMIT || (alen == blen && !memcmp(a, b, alen)));
        free(d);
        return;
    }
    struct patch_set ps;
    pyro_error err = {0};
    CHECK(patch_parse(d, dlen, &ps, &err) == 0);
    CHECK(ps.nfiles == 1);
    char *out = NULL;
    size_t olen = 0;
    CHECK(patch_apply_file(&ps.files[0], true, a, alen, &out, &olen, &err) == 0);
    CHECK(olen == blen && !memcmp(out, b, blen));
    free(out);
    patch_set_free(&ps);
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nul = memchr(data, '\0', size);
    size_t tlen = nul ? (size_t)(nul - (const char *)data) : 0;
    if (tlen > TEXT_MAX)
        return 0;
    /* Copies, so that a read past either end is caught by the sanitizers. */
    char *text = xmalloc(tlen + 1);
    memcpy(text, data, tlen);
    text[tlen] = '\0';
    size_t plen = nul ? size - tlen - 1 : size;
    char *patch = xmalloc(plen + 1);
    memcpy(patch, nul ? nul + 1 : (const char *)data, plen);
    patch[plen] = '\0';

    struct patch_set ps;
    pyro_error err = {0};
    int r = patch_parse(patch, plen, &ps, &err);
    if (r < 0) {
        CHECK(r == -PYRO_E_INVALID && err.message[0]);
        CHECK(!ps.files && !ps.nfiles);
        goto out;
    }
    CHECK(ps.nfiles > 0);
    for (size_t i = 0; i < ps.nfiles; i++) {
        const struct patch_file *pf = &ps.files[i];
        CHECK(pf->nhunks > 0 && patch_file_path(pf));
        for (size_t k = 0; k < pf->nhunks; k++) {
            const struct patch_hunk *h = &pf->hunks[k];
            CHECK(h->nlines <= (size_t)(h->old_len + h->new_len));
            for (size_t j = 0; j < h->nlines; j++) {
                const struct patch_line *l = &h->lines[j];
                CHECK(l->op == ' ' || l->op == '-' || l->op == '+');
                CHECK(l->text >= patch && l->text + l->len <= patch + plen);
            }
        }
        /* The text stands for the file when the patch changes one, and is
         * absent for a creation; both are tried. */
        for (int exists = 0; exists <= 1; exists++) {
            char *out = NULL;
            size_t olen = 0;
            err.message[0] = '\0';
            int a = patch_apply_file(pf, exists, text, tlen, &out, &olen, &err);
            if (a < 0) {
                CHECK((a == -PYRO_E_INVALID || a == -PYRO_E_NOT_FOUND) && err.message[0] && !out);
                continue;
            }
            CHECK(a == 0 && out);
            CHECK(exists == (pf->old_path != NULL));
            if (!pf->new_path)
                CHECK(olen == 0);
            check_roundtrip(exists ? text : "", exists ? tlen : 0, out, olen);
            free(out);
        }
    }
    patch_set_free(&ps);
out:
    free(text);
    free(patch);
    return 0;
}
