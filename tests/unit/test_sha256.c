/* SHA-256 against FIPS 180-4 / NIST vectors, in both block functions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/sha256.h"

static void hex_of(const void *data, size_t len, size_t chunk, char out[65])
{
    struct sha256 s;
    sha256_init(&s);
    const uint8_t *p = data;
    while (len) {
        size_t n = len < chunk ? len : chunk;
        sha256_update(&s, p, n);
        p += n;
        len -= n;
    }
    sha256_final_hex(&s, out);
}

static void check_vectors(void)
{
    char h[65];
    hex_of("", 0, 1, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m, strlen(m), 7, h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    hex_of(a, n, 4096, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    hex_of(a, n, 63, h); /* odd chunking through the buffer path */
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

static void test_vectors_default(void **state)
{
    (void)state;
    sha256_portable_only = false;
    check_vectors();
}

static void test_vectors_portable(void **state)
{
    (void)state;
    sha256_portable_only = true;
    assert_string_equal(sha256_impl(), "portable");
    check_vectors();
    sha256_portable_only = false;
}

/* Every length around block boundaries agrees between the implementations. */
static void test_lengths_agree(void **state)
{
    (void)state;
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof(buf); len++) {
        char a[65], b[65];
        sha256_portable_only = false;
        hex_of(buf, len, 1000, a);
        sha256_portable_only = true;
        hex_of(buf, len, 1000, b);
        assert_string_equal(a, b);
    }
    sha256_portable_only = false;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_default),
        cmocka_unit_test(test_vectors_portable),
        cmocka_unit_test(test_lengths_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
