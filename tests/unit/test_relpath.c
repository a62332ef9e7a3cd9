/* The one relative-path checker (base/relpath.h): the rules, the flags each
 * caller uses (agent file ops, tar entries, archive members, guest paths,
 * canonical names) and symlink targets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/relpath.h"
#include "lib/workspace/workspace.h"

struct norm_case {
    const char *in, *out; /* out NULL: refused */
};

static void expect_cases(const struct norm_case *c, size_t n, unsigned flags)
{
    for (size_t i = 0; i < n; i++) {
        char *norm = (char *)"unset";
        pyro_error err = {0};
        int r = relpath_normalize(c[i].in, flags, &norm, &err);
        int rc = relpath_check(c[i].in, flags, NULL);
        if (c[i].out) {
            if (r != 0)
                fail_msg("'%s' (flags %u): refused: %s", c[i].in, flags, err.message);
            assert_string_equal(norm, c[i].out);
            assert_int_equal(rc, 0);
        } else {
            if (r != -PYRO_E_INVALID)
                fail_msg("'%s' (flags %u): got %d, want a refusal", c[i].in, flags, r);
            assert_null(norm);
            assert_true(err.message[0] != '\0');
            assert_int_equal(rc, -PYRO_E_INVALID);
        }
        free(norm);
    }
}

/* Archive members on the host: "." names the root, "" is refused. */
static void test_archive_names(void **state)
{
    static const struct norm_case cases[] = {
        {"a/b", "a/b"},         {"./a//b/", "a/b"}, {"./", ""},          {".", ""},
        {"/etc/passwd", NULL},  {"../x", NULL},     {"a/../../x", NULL}, {"a/..", NULL},
        {"..a/b..", "..a/b.."}, {"", NULL},         {"a/./b", "a/b"},    {"...", "..."},
    };
    expect_cases(cases, ARRAY_SIZE(cases), RELPATH_DOT_ROOT);
}

/* Tar entries in the guest: the root itself is refused in every spelling. */
static void test_tar_names(void **state)
{
    static const struct norm_case cases[] = {
        {"a", "a"},      {"./a//b/", "a/b"}, {"", NULL},       {".", NULL},  {"./", NULL},
        {".//./", NULL}, {"/a", NULL},       {"a/../b", NULL}, {"..", NULL}, {"a/b/..", NULL},
    };
    expect_cases(cases, ARRAY_SIZE(cases), 0);
}

/* Agent file ops and guest paths: "" and "." both name the root. */
static void test_root_names(void **state)
{
    static const struct norm_case cases[] = {
        {"", ""}, {".", ""}, {"./", ""}, {"a/", "a"}, {"/", NULL}, {"../", NULL}, {"./..", NULL},
    };
    expect_cases(cases, ARRAY_SIZE(cases), RELPATH_ROOT);
    static const struct norm_case empty_only[] = {{"", ""}, {".", NULL}, {"a", "a"}};
    expect_cases(empty_only, ARRAY_SIZE(empty_only), RELPATH_EMPTY_ROOT);
}

/* Canonical names (artifact paths, cgroup parents): already normalised. */
static void test_canonical(void **state)
{
    static const struct norm_case cases[] = {
        {"a/b", "a/b"}, {"pyro", "pyro"}, {"a//b", NULL}, {"a/", NULL}, {"./a", NULL},
        {"a/.", NULL},  {"", NULL},       {".", NULL},    {"/a", NULL}, {"a/../b", NULL},
    };
    expect_cases(cases, ARRAY_SIZE(cases), RELPATH_CANONICAL);
}

static void test_bounds(void **state)
{
    pyro_error err = {0};
    /* NUL: only a length-carrying input can hold one. */
    assert_int_equal(relpath_parse("a\0b", 3, 0, NULL, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "NUL"));
    assert_int_equal(relpath_parse("a\0b", 1, 0, NULL, NULL), 0);
    assert_int_equal(relpath_check(NULL, RELPATH_ROOT, NULL), -PYRO_E_INVALID);

    /* Length: RELPATH_MAX bytes pass, one more does not. */
    char *p = xmalloc(RELPATH_MAX + 2);
    memset(p, 'x', RELPATH_MAX + 1);
    p[RELPATH_MAX + 1] = '\0';
    assert_int_equal(relpath_check(p, 0, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "longer"));
    p[RELPATH_MAX] = '\0';
    assert_int_equal(relpath_check(p, 0, NULL), 0);
    free(p);

    /* Depth counts components after normalisation: "." and empty ones do
     * not count. */
    char deep[4 * (RELPATH_DEPTH_MAX + 1) + 1] = "";
    for (int i = 0; i < RELPATH_DEPTH_MAX; i++)
        strcat(deep, i ? "/d" : "d");
    assert_int_equal(relpath_check(deep, RELPATH_CANONICAL, NULL), 0);
    strcat(deep, "/./");
    assert_int_equal(relpath_check(deep, 0, NULL), 0);
    strcat(deep, "d");
    assert_int_equal(relpath_check(deep, 0, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "components"));
}

static void test_messages(void **state)
{
    pyro_error err = {0};
    assert_int_equal(relpath_check("/etc/passwd", RELPATH_ROOT, &err), -PYRO_E_INVALID);
    assert_string_equal(err.message, "path '/etc/passwd' is an absolute path (it must be relative)");
    assert_int_equal(relpath_check("a/../b", RELPATH_ROOT, &err), -PYRO_E_INVALID);
    assert_string_equal(err.message, "path 'a/../b' contains '..'");
    assert_int_equal(relpath_check(".", 0, &err), -PYRO_E_INVALID);
    assert_string_equal(err.message, "path '.' names the root itself");
    assert_int_equal(relpath_check("", 0, &err), -PYRO_E_INVALID);
    assert_string_equal(err.message, "path is empty");
    /* A long path is quoted in part. */
    char *p = xmalloc(1001);
    memset(p, 'y', 1000);
    strcpy(p + 990, "/../x");
    assert_int_equal(relpath_check(p, 0, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "...' contains '..'"));
    free(p);
}

static void test_links(void **state)
{
    assert_int_equal(relpath_link_check("l", "target", NULL), 0);
    assert_int_equal(relpath_link_check("a/b/l", "../../x", NULL), 0);
    assert_int_equal(relpath_link_check("a/b/l", "../../../x", NULL), -PYRO_E_INVALID);
    assert_int_equal(relpath_link_check("l", "..", NULL), -PYRO_E_INVALID);
    assert_int_equal(relpath_link_check("l", "/etc", NULL), -PYRO_E_INVALID);
    assert_int_equal(relpath_link_check("l", "", NULL), -PYRO_E_INVALID);
    assert_int_equal(relpath_link_check("l", NULL, NULL), -PYRO_E_INVALID);
    assert_int_equal(relpath_link_check("a/l", "./b/../../..", NULL), -PYRO_E_INVALID);
    assert_int_equal(relpath_link_check("a/l", "./b/../..", NULL), 0);
    assert_int_equal(relpath_link_check("a/l", "b/../../c", NULL), 0);
    /* The link's own name is a relative path too; "./" and "//" in it do
     * not make it deeper. */
    assert_int_equal(relpath_link_check("./a//l", "../x", NULL), 0);
    assert_int_equal(relpath_link_check("./a//l", "../../x", NULL), -PYRO_E_INVALID);
    assert_int_equal(relpath_link_check("../l", "x", NULL), -PYRO_E_INVALID);
    assert_int_equal(relpath_link_check(".", "x", NULL), -PYRO_E_INVALID);
    /* Going up and down again: never above the root on the way. */
    assert_int_equal(relpath_link_check("l", "../l/x", NULL), -PYRO_E_INVALID);
    pyro_error err = {0};
    assert_int_equal(relpath_link_check("a/l", "../../etc", &err), -PYRO_E_INVALID);
    assert_string_equal(err.message, "symlink 'a/l' -> '../../etc' escapes the destination");
    assert_int_equal(relpath_link_check("l", "/etc", &err), -PYRO_E_INVALID);
    assert_string_equal(err.message, "symlink 'l' points to the absolute path '/etc'");
}

/* Guest paths on the host: /workspace is the root, the rest is relpath's. */
static void test_guest_paths(void **state)
{
    static const struct norm_case cases[] = {
        {"/workspace/src/a.c", "src/a.c"},
        {"src/a.c", "src/a.c"},
        {"./src/a.c", "src/a.c"},
        {"/workspace", ""},
        {"/workspace/", ""},
        {"", ""},
        {".", ""},
        {"/workspace//x/", "x"},
        {"/etc/passwd", NULL},
        {"/workspacex", NULL},
        {"/workspace/../x", NULL},
        {"../x", NULL},
        {"a/../../x", NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *rel = NULL;
        pyro_error err = {0};
        int r = ws_guest_rel(cases[i].in, &rel, &err);
        if (cases[i].out) {
            if (r != 0)
                fail_msg("'%s': refused: %s", cases[i].in, err.message);
            assert_string_equal(rel, cases[i].out);
        } else {
            assert_int_equal(r, -PYRO_E_INVALID);
            assert_true(strstr(err.message, "outside") || strstr(err.message, "'..'"));
        }
        free(rel);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_archive_names), cmocka_unit_test(test_tar_names),   cmocka_unit_test(test_root_names),
        cmocka_unit_test(test_canonical),     cmocka_unit_test(test_bounds),      cmocka_unit_test(test_messages),
        cmocka_unit_test(test_links),         cmocka_unit_test(test_guest_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
