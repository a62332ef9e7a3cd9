/* The redactor (base/redact.c): whole texts, overlapping and repeated
 * values, windows cut at either end, streams fed in pieces (a value split
 * across reads, fed one byte at a time), JSON results and messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/redact.h"

static struct redact *make(const char *const *vals)
{
    struct redact *r = redact_new();
    for (; *vals; vals++)
        assert_int_equal(redact_add(r, *vals, strlen(*vals)), 0);
    return r;
}

static char *red(const struct redact *r, const char *s, unsigned flags)
{
    size_t n;
    return redact_text(r, s, strlen(s), flags, &n);
}

static void test_whole(void **state)
{
    (void)state;
    static const char *const v[] = {"hunter2-secret", "TOKEN_abcdef", NULL};
    struct redact *r = make(v);
    char *o = red(r, "a hunter2-secret b TOKEN_abcdef c hunter2-secret", 0);
    assert_string_equal(o, "a [REDACTED] b [REDACTED] c [REDACTED]");
    free(o);
    /* Adjacent and overlapping occurrences merge into one mask. */
    o = red(r, "hunter2-secrethunter2-secret", 0);
    assert_string_equal(o, "[REDACTED]");
    free(o);
    o = red(r, "nothing here", 0);
    assert_string_equal(o, "nothing here");
    free(o);
    redact_free(r);
}

static void test_overlap(void **state)
{
    (void)state;
    /* One value's end is another's start; a value overlapping itself. */
    static const char *const v[] = {"abcXYZ12", "Z12345678", "aaaaaaaa", NULL};
    struct redact *r = make(v);
    char *o = red(r, "-abcXYZ12345678-", 0);
    assert_string_equal(o, "-[REDACTED]-");
    free(o);
    o = red(r, "x aaaaaaaaa y", 0);
    assert_string_equal(o, "x [REDACTED] y");
    free(o);
    o = red(r, "x aaaaaaa y", 0); /* one short of the value */
    assert_string_equal(o, "x aaaaaaa y");
    free(o);
    redact_free(r);
}

static void test_bounds(void **state)
{
    (void)state;
    struct redact *r = redact_new();
    assert_int_equal(redact_add(r, "short", 5), -EINVAL);
    char big[REDACT_VALUE_MAX + 1];
    memset(big, 'q', sizeof(big));
    assert_int_equal(redact_add(r, big, sizeof(big)), -EINVAL);
    assert_int_equal(redact_add(r, big, REDACT_VALUE_MAX), 0);
    assert_int_equal(redact_add(r, big, REDACT_VALUE_MAX), 0); /* again: kept once */
    assert_int_equal(redact_count(r), 1);
    char name[32];
    for (int i = 1; i < REDACT_VALUES_MAX; i++) {
        snprintf(name, sizeof(name), "value-%04d", i);
        assert_int_equal(redact_add(r, name, strlen(name)), 0);
    }
    assert_int_equal(redact_add(r, "one-too-many", 12), -E2BIG);
    redact_free(r);
    /* No redactor: a copy. */
    size_t n;
    char *o = redact_text(NULL, "abc", 3, 0, &n);
    assert_string_equal(o, "abc");
    free(o);
}

static void test_edges(void **state)
{
    (void)state;
    static const char *const v[] = {"SECRETVALUE", NULL};
    struct redact *r = make(v);
    /* A stream cut after the window: its trailing start of a value goes. */
    char *o = red(r, "output SECRE", REDACT_CUT_END);
    assert_string_equal(o, "output [REDACTED]");
    free(o);
    o = red(r, "output SECRE", 0);
    assert_string_equal(o, "output SECRE");
    free(o);
    /* A window cut before its start: a leading end of a value goes. */
    o = red(r, "TVALUE tail", REDACT_CUT_START);
    assert_string_equal(o, "[REDACTED] tail");
    free(o);
    assert_int_equal(redact_holdback(r, "xx SECR", 7), 4);
    assert_int_equal(redact_holdback(r, "xx", 2), 0);
    /* A range: the bytes before from are context only. */
    size_t n;
    o = redact_range(r, "SECRETVALUE and more", 20, 11, 20, 0, &n);
    assert_string_equal(o, " and more");
    free(o);
    o = redact_range(r, "ab SECRETVALUE", 14, 5, 14, 0, &n);
    assert_string_equal(o, "[REDACTED]");
    free(o);
    redact_free(r);
}

static char *stream_all(const struct redact *r, const char *s, size_t step, bool cut)
{
    struct redact_stream st = {.r = r};
    size_t len = strlen(s), cap = 16, total = 0;
    char *all = xmalloc(cap);
    all[0] = '\0';
    for (size_t i = 0; i <= len; i += step) {
        size_t n, take = len - i < step ? len - i : step;
        char *o = i < len ? redact_stream_feed(&st, s + i, take, &n) : redact_stream_finish(&st, cut, &n);
        all = xrealloc(all, (cap = total + n + 1));
        memcpy(all + total, o, n);
        total += n;
        all[total] = '\0';
        free(o);
        if (i + step > len && i < len) {
            o = redact_stream_finish(&st, cut, &n);
            all = xrealloc(all, (cap = total + n + 1));
            memcpy(all + total, o, n);
            total += n;
            all[total] = '\0';
            free(o);
            break;
        }
    }
    return all;
}

static void test_stream(void **state)
{
    (void)state;
    static const char *const v[] = {"SECRETVALUE", "abcXYZ12", "Z12345678", NULL};
    struct redact *r = make(v);
    const char *in = "start SECRETVALUE mid SECRETVALUESECRETVALUE -abcXYZ12345678- SECRE end";
    for (size_t step = 1; step <= strlen(in); step++) {
        char *o = stream_all(r, in, step, false);
        assert_null(strstr(o, "SECRETVALUE"));
        assert_null(strstr(o, "XYZ1"));
        assert_null(strstr(o, "345678"));
        assert_non_null(strstr(o, "start [REDACTED] mid [REDACTED]"));
        assert_non_null(strstr(o, "SECRE end")); /* a mere prefix at the end stays */
        free(o);
    }
    /* Cut at the end: the dangling start of a value is masked. */
    char *o = stream_all(r, "tail SECRETVA", 1, true);
    assert_string_equal(o, "tail [REDACTED]");
    free(o);
    redact_free(r);
}

static void test_json(void **state)
{
    (void)state;
    static const char *const v[] = {"SECRETVALUE", NULL};
    struct redact *r = make(v);
    json_t *in = json_pack("{s:s, s:[s, i], s:{s:b}}", "stdout", "x SECRETVALUE y", "list", "SECRETVALUE", 3,
                           "SECRETVALUE-key", "k", 1);
    json_t *out = redact_json(r, in);
    char *t = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
    assert_null(strstr(t, "SECRETVALUE"));
    assert_string_equal(t,
                        "{\"[REDACTED]-key\":{\"k\":true},\"list\":[\"[REDACTED]\",3],\"stdout\":\"x [REDACTED] y\"}");
    free(t);
    json_decref(out);
    json_decref(in);
    char msg[64] = "failed: SECRETVALUE not found";
    redact_message(r, msg, sizeof(msg));
    assert_string_equal(msg, "failed: [REDACTED] not found");
    redact_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole), cmocka_unit_test(test_overlap), cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_edges), cmocka_unit_test(test_stream),  cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
