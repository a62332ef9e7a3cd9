/* Text diff and patch: unified diffs rendered by textdiff are applied back
 * by patch exactly; hunks are checked without fuzz; errors name the file
 * and the hunk; file names in headers are quoted as git quotes them and
 * read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "lib/workspace/cquote.h"
#include "lib/workspace/patch.h"
#include "lib/workspace/textdiff.h"

static char *diff_of(const char *a, const char *b, int max_edits, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    *rc = textdiff_unified(f, a, strlen(a), b, strlen(b), "a/f", "b/f", max_edits, NULL);
    fclose(f);
    return buf;
}

/* Applies the diff of a -> b to a and expects b. */
static void roundtrip(const char *a, const char *b)
{
    int rc;
    _cleanup_free_ char *d = diff_of(a, b, TEXTDIFF_MAX_EDITS, &rc);
    assert_int_equal(rc, 0);
    if (!strcmp(a, b)) {
        assert_string_equal(d, "");
        return;
    }
    struct patch_set ps;
    pyro_error err = {0};
    assert_int_equal(patch_parse(d, strlen(d), &ps, &err), 0);
    assert_int_equal(ps.nfiles, 1);
    char *out = NULL;
    size_t out_len = 0;
    int r = patch_apply_file(&ps.files[0], true, a, strlen(a), &out, &out_len, &err);
    if (r < 0)
        fail_msg("apply failed: %s\n--- diff:\n%s", err.message, d);
    assert_int_equal(out_len, strlen(b));
    assert_memory_equal(out, b, out_len);
    free(out);
    patch_set_free(&ps);
}

static void test_diff_simple(void **state)
{
    int rc;
    _cleanup_free_ char *d = diff_of("one\ntwo\nthree\n", "one\nTWO\nthree\n", 100, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(d, "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n");
    _cleanup_free_ char *e = diff_of("x\n", "x", 100, &rc);
    assert_string_equal(e, "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n-x\n+x\n\\ No newline at end of file\n");
    _cleanup_free_ char *same = diff_of("a\nb\n", "a\nb\n", 100, &rc);
    assert_string_equal(same, "");
}

static void test_diff_bounded(void **state)
{
    char a[4096] = "", b[4096] = "";
    for (int i = 0; i < 200; i++) {
        snprintf(a + strlen(a), sizeof(a) - strlen(a), "a%d\n", i);
        snprintf(b + strlen(b), sizeof(b) - strlen(b), "b%d\n", i);
    }
    int rc;
    _cleanup_free_ char *d = diff_of(a, b, 100, &rc);
    assert_int_equal(rc, -PYRO_E_LIMIT);
    assert_string_equal(d, "");
}

static void test_roundtrips(void **state)
{
    roundtrip("", "new\n");
    roundtrip("old\n", "");
    roundtrip("a\nb\nc\n", "a\nb\nc\nd\n");
    roundtrip("a\nb\nc", "a\nb\nc\n");
    roundtrip("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n",
              "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\nY\n19\n20\nZ\n");
    /* Random edits of random texts over a small alphabet: many repeats. */
    srand(42);
    for (int iter = 0; iter < 300; iter++) {
        char a[512], b[512];
        size_t na = 0, nb = 0;
        int la = rand() % 40, lb = rand() % 40;
        for (int i = 0; i < la; i++) {
            a[na++] = (char)('a' + rand() % 4);
            a[na++] = '\n';
        }
        a[na] = '\0';
        for (int i = 0; i < lb; i++) {
            b[nb++] = (char)('a' + rand() % 4);
            b[nb++] = '\n';
        }
        if (nb && rand() % 5 == 0)
            nb--; /* no final newline */
        b[nb] = '\0';
        roundtrip(a, b);
        roundtrip(b, a);
    }
}

static const char multi[] = "diff --git a/x b/x\n"
                            "index 000..111 100644\n"
                            "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n"
                            "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,2 @@\n+n1\n+n2\n"
                            "--- a/gone\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n";

static void test_patch_multi(void **state)
{
    struct patch_set ps;
    pyro_error err = {0};
    assert_int_equal(patch_parse(multi, strlen(multi), &ps, &err), 0);
    assert_int_equal(ps.nfiles, 3);
    assert_string_equal(ps.files[0].old_path, "x");
    assert_null(ps.files[1].old_path);
    assert_string_equal(ps.files[1].new_path, "new.txt");
    assert_null(ps.files[2].new_path);
    assert_string_equal(patch_file_path(&ps.files[2]), "gone");
    char *out;
    size_t len;
    assert_int_equal(patch_apply_file(&ps.files[0], true, "a\nb\n", 4, &out, &len, &err), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(out, "a\nB\n", 4);
    free(out);
    assert_int_equal(patch_apply_file(&ps.files[1], false, "", 0, &out, &len, &err), 0);
    assert_memory_equal(out, "n1\nn2\n", 6);
    free(out);
    /* A creation of an existing file, a deletion that leaves content. */
    assert_int_equal(patch_apply_file(&ps.files[1], true, "x", 1, &out, &len, &err), -PYRO_E_INVALID);
    assert_int_equal(patch_apply_file(&ps.files[2], true, "bye\nmore\n", 9, &out, &len, &err), -PYRO_E_INVALID);
    assert_int_equal(patch_apply_file(&ps.files[2], true, "bye\n", 4, &out, &len, &err), 0);
    assert_int_equal(len, 0);
    free(out);
    patch_set_free(&ps);
}

static void test_patch_no_fuzz(void **state)
{
    static const char p[] =
        "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n 1\n-2\n+two\n 3\n@@ -7,3 +7,3 @@\n 7\n-8\n+eight\n 9\n";
    struct patch_set ps;
    pyro_error err = {0};
    assert_int_equal(patch_parse(p, strlen(p), &ps, &err), 0);
    char *out = NULL;
    size_t len;
    const char *good = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    assert_int_equal(patch_apply_file(&ps.files[0], true, good, strlen(good), &out, &len, &err), 0);
    assert_int_equal(len, strlen("1\ntwo\n3\n4\n5\n6\n7\neight\n9\n"));
    assert_memory_equal(out, "1\ntwo\n3\n4\n5\n6\n7\neight\n9\n", len);
    free(out);
    /* The same lines one further down: exact positions only, no offset. */
    const char *shifted = "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    assert_int_equal(patch_apply_file(&ps.files[0], true, shifted, strlen(shifted), &out, &len, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "f: hunk 1"));
    /* Hunk 2's context differs by whitespace: no fuzz. */
    const char *ws = "1\n2\n3\n4\n5\n6\n7 \n8\n9\n";
    assert_int_equal(patch_apply_file(&ps.files[0], true, ws, strlen(ws), &out, &len, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "f: hunk 2"));
    assert_non_null(strstr(err.message, "line 7"));
    patch_set_free(&ps);
}

static void test_patch_malformed(void **state)
{
    const char *bad[] = {
        "no headers at all\n",
        "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n",     /* ends inside a hunk */
        "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n a\n+b\n", /* counts do not match */
        "--- a/f\n+++ b/f\n@@ garbage @@\n",
        "--- a/f\nnot plus\n",
        "--- /dev/null\n+++ /dev/null\n@@ -0,0 +1 @@\n+x\n",
        "--- a/f\n+++ b/f\n", /* no hunks */
        /* counts beyond what the patch holds: refused before allocating */
        "--- a/f\n+++ b/f\n@@ -1,99999999 +1,99999999 @@\n a\n",
        "--- a/f\n+++ b/f\n@@ -1,9223372036854775807 +1,9223372036854775807 @@\n a\n",
        "--- a/f\n+++ b/f\n@@ -1,99999999999999999999 +1,1 @@\n a\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct patch_set ps;
        pyro_error err = {0};
        int pr = patch_parse(bad[i], strlen(bad[i]), &ps, &err);
        if (pr != -PYRO_E_INVALID)
            fail_msg("case %zu parsed (%d)", i, pr);
        assert_true(err.message[0] != '\0');
        if (i >= 7)
            assert_non_null(strstr(err.message, "counts more lines than the patch has"));
    }
}

/* The labels git 2.39 writes for these names (git show of a commit that
 * adds them, core.quotePath unset). */
static void test_quote_like_git(void **state)
{
    static const char *const cases[][2] = {
        {"plain/name.c", "b/plain/name.c"},
        {"a b", "b/a b\t"},
        {"sp end ", "b/sp end \t"},
        {"tab\tx", "\"b/tab\\tx\""},
        {"nl\nx", "\"b/nl\\nx\""},
        {"x y\nz", "\"b/x y\\nz\"\t"},
        {"q\"x", "\"b/q\\\"x\""},
        {"bs\\x", "\"b/bs\\\\x\""},
        {"\xc3\xa9", "\"b/\\303\\251\""},
        {"del\x7f", "\"b/del\\177\""},
        {"bell\a", "\"b/bell\\a\""},
        {"esc\x1b", "\"b/esc\\033\""},
        {"README\n+++ b/.github/workflows/ci.yml", "\"b/README\\n+++ b/.github/workflows/ci.yml\"\t"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        _cleanup_free_ char *l = cquote_label("b/", cases[i][0]);
        assert_string_equal(l, cases[i][1]);
        /* And back: the patch parser reads the name it was given. */
        _cleanup_free_ char *p = xasprintf("--- /dev/null\n+++ %s\n@@ -0,0 +1 @@\n+x\n", l);
        struct patch_set ps;
        pyro_error err = {0};
        assert_int_equal(patch_parse(p, strlen(p), &ps, &err), 0);
        assert_int_equal(ps.nfiles, 1);
        assert_string_equal(ps.files[0].new_path, cases[i][0]);
        patch_set_free(&ps);
    }
}

/* A name whose newline would forge a second file: one file, one name. */
static void test_forged_header(void **state)
{
    const char *name = "README\n@@ -0,0 +1 @@\n+hi\n--- /dev/null\n+++ b/.github/workflows/ci.yml";
    _cleanup_free_ char *lb = cquote_label("b/", name);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(textdiff_unified(f, "", 0, "on: push\n", 9, "/dev/null", lb, 100, NULL), 0);
    fclose(f);
    struct patch_set ps;
    pyro_error err = {0};
    assert_int_equal(patch_parse(buf, len, &ps, &err), 0);
    assert_int_equal(ps.nfiles, 1);
    assert_string_equal(patch_file_path(&ps.files[0]), name);
    patch_set_free(&ps);
    free(buf);
    /* Malformed quotes are refused, not guessed. */
    const char *bad[] = {"--- a/x\n+++ \"b/x\n@@ -1 +1 @@\n-a\n+b\n", "--- a/x\n+++ \"b/\\q\"\n@@ -1 +1 @@\n-a\n+b\n",
                         "--- a/x\n+++ \"b/\\000\"\n@@ -1 +1 @@\n-a\n+b\n",
                         "--- \"a/\\8\"\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int pr = patch_parse(bad[i], strlen(bad[i]), &ps, &err);
        if (pr != -PYRO_E_INVALID)
            fail_msg("bad quote %zu parsed (%d)", i, pr);
        assert_non_null(strstr(err.message, "quoted"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_simple),    cmocka_unit_test(test_diff_bounded),
        cmocka_unit_test(test_roundtrips),     cmocka_unit_test(test_patch_multi),
        cmocka_unit_test(test_patch_no_fuzz),  cmocka_unit_test(test_patch_malformed),
        cmocka_unit_test(test_quote_like_git), cmocka_unit_test(test_forged_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
