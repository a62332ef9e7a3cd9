/* The agent frame codec: round trips, partial input, and every way a frame
 * can be malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "proto/proto.h"

static void test_prefix_round_trip(void **state)
{
    uint8_t p[PROTO_PREFIX_LEN];
    uint32_t h, b;
    pyro_error err = {0};

    proto_prefix_encode(p, 1234, 5678);
    assert_memory_equal(p, "PYA\x01", 4);
    assert_int_equal(proto_prefix_decode(p, &h, &b, &err), 0);
    assert_int_equal(h, 1234);
    assert_int_equal(b, 5678);
}

static void test_prefix_limits(void **state)
{
    uint8_t p[PROTO_PREFIX_LEN];
    uint32_t h, b;
    pyro_error err = {0};

    proto_prefix_encode(p, PROTO_HEADER_MAX + 1, 0);
    assert_int_equal(proto_prefix_decode(p, &h, &b, &err), -PYRO_E_PROTOCOL);
    proto_prefix_encode(p, 10, PROTO_BODY_MAX + 1);
    assert_int_equal(proto_prefix_decode(p, &h, &b, &err), -PYRO_E_PROTOCOL);
    assert_non_null(strstr(err.message, "body length"));
    proto_prefix_encode(p, 0, 0);
    assert_int_equal(proto_prefix_decode(p, &h, &b, &err), -PYRO_E_PROTOCOL);
    proto_prefix_encode(p, PROTO_HEADER_MAX, PROTO_BODY_MAX);
    assert_int_equal(proto_prefix_decode(p, &h, &b, &err), 0);
    proto_prefix_encode(p, 10, 0);
    p[3] = 2;
    assert_int_equal(proto_prefix_decode(p, &h, &b, &err), -PYRO_E_PROTOCOL);
    assert_non_null(strstr(err.message, "version"));
}

static void test_frame_round_trip(void **state)
{
    json_t *h = proto_header_new(PROTO_REQ, 42);
    json_set(h, "op", json_string("exec"));
    json_set(h, "args", json_pack("{s:s}", "command", "echo \xc3\xa9"));
    const char body[] = "body\0bytes";
    uint8_t *frame;
    size_t len, used = 0;
    pyro_error err = {0};

    assert_int_equal(proto_frame_encode(h, body, sizeof(body), &frame, &len, &err), 0);
    json_decref(h);

    /* Every strict prefix is "need more", never an error. */
    for (size_t i = 0; i < len; i++) {
        struct proto_frame f;
        assert_int_equal(proto_frame_decode(frame, i, &f, &used, &err), 0);
    }
    struct proto_frame f;
    assert_int_equal(proto_frame_decode(frame, len, &f, &used, &err), 1);
    assert_int_equal(used, len);
    assert_int_equal(f.type, PROTO_REQ);
    assert_int_equal(f.id, 42);
    assert_string_equal(f.op, "exec");
    assert_string_equal(json_get_str(json_object_get(f.hdr, "args"), "command", ""), "echo \xc3\xa9");
    assert_int_equal(f.body_len, sizeof(body));
    assert_memory_equal(f.body, body, sizeof(body));
    proto_frame_clear(&f);
    free(frame);
}

static void test_reader_split_frames(void **state)
{
    struct proto_reader r = {0};
    pyro_error err = {0};
    uint8_t *a, *b;
    size_t alen, blen;
    json_t *h1 = proto_header_new(PROTO_DATA, 7), *h2 = proto_header_new(PROTO_END, 7);

    assert_int_equal(proto_frame_encode(h1, "xyz", 3, &a, &alen, &err), 0);
    assert_int_equal(proto_frame_encode(h2, NULL, 0, &b, &blen, &err), 0);
    json_decref(h1);
    json_decref(h2);
    /* Byte by byte, both frames back to back. */
    struct proto_frame f;
    int got = 0;
    for (size_t i = 0; i < alen + blen; i++) {
        uint8_t byte = i < alen ? a[i] : b[i - alen];
        proto_reader_push(&r, &byte, 1);
        int ret = proto_reader_next(&r, &f, &err);
        assert_true(ret >= 0);
        if (ret == 1) {
            got++;
            assert_int_equal(f.type, got == 1 ? PROTO_DATA : PROTO_END);
            assert_int_equal(f.id, 7);
            if (got == 1) {
                assert_int_equal(f.body_len, 3);
                assert_memory_equal(f.body, "xyz", 3);
                assert_int_equal(i, alen - 1);
            }
            proto_frame_clear(&f);
        }
    }
    assert_int_equal(got, 2);
    assert_int_equal(r.len, 0);
    proto_reader_free(&r);
    free(a);
    free(b);
}

/* A frame with a raw header text. */
static int decode_raw(const char *hdr, pyro_error *err)
{
    size_t hl = strlen(hdr);
    uint8_t *buf = xmalloc(PROTO_PREFIX_LEN + hl);
    proto_prefix_encode(buf, (uint32_t)hl, 0);
    memcpy(buf + PROTO_PREFIX_LEN, hdr, hl);
    struct proto_frame f;
    size_t used;
    int r = proto_frame_decode(buf, PROTO_PREFIX_LEN + hl, &f, &used, err);
    if (r == 1)
        proto_frame_clear(&f);
    free(buf);
    return r;
}

static void test_bad_headers(void **state)
{
    pyro_error err = {0};
    static const char *const bad[] = {
        "{",                                      /* not JSON */
        "[1,2]",                                  /* not an object */
        "{\"id\":1}",                             /* no type */
        "{\"t\":\"nope\",\"id\":1}",              /* unknown type */
        "{\"t\":\"req\",\"id\":-1,\"op\":\"x\"}", /* negative id */
        "{\"t\":\"req\",\"id\":1.5,\"op\":\"x\"}",
        "{\"t\":\"req\",\"id\":9007199254740992,\"op\":\"x\"}", /* 2^53 */
        "{\"t\":\"req\",\"id\":1}",                             /* request without op */
        "{\"t\":\"req\",\"id\":1,\"op\":\"\"}",
        "{\"t\":\"req\",\"id\":1,\"op\":\"x\",\"args\":[]}",
        "{\"t\":\"req\",\"t\":\"req\",\"id\":1,\"op\":\"x\"}", /* duplicate key */
        "{\"t\":\"data\",\"id\":\"1\"}",
        "{\"t\":\"data\",\"id\":1} trailing",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        err.code = 0;
        int r = decode_raw(bad[i], &err);
        if (r != -PYRO_E_PROTOCOL)
            fail_msg("accepted bad header %s", bad[i]);
        assert_int_equal(err.code, -PYRO_E_PROTOCOL);
    }
    assert_int_equal(decode_raw("{\"t\":\"ack\",\"id\":9007199254740991,\"bytes\":1}", &err), 1);
    assert_int_equal(decode_raw("{\"t\":\"resp\",\"id\":0,\"ok\":true,\"s\":\"a\\u0000b\"}", &err), 1);
}

static void test_garbage_rejected_early(void **state)
{
    pyro_error err = {0};
    struct proto_frame f;
    size_t used;
    /* Two bytes are enough to see it is not a frame. */
    assert_int_equal(proto_frame_decode((const uint8_t *)"GE", 2, &f, &used, &err), -PYRO_E_PROTOCOL);
    assert_int_equal(proto_frame_decode((const uint8_t *)"PYA\x07", 4, &f, &used, &err), -PYRO_E_PROTOCOL);
    assert_int_equal(proto_frame_decode((const uint8_t *)"PY", 2, &f, &used, &err), 0);
    /* An oversized declared header is refused before it is buffered. */
    uint8_t p[PROTO_PREFIX_LEN];
    proto_prefix_encode(p, 0xffffffffu, 0);
    assert_int_equal(proto_frame_decode(p, sizeof(p), &f, &used, &err), -PYRO_E_PROTOCOL);
}

static void test_encode_limits(void **state)
{
    json_t *h = proto_header_new(PROTO_DATA, 1);
    uint8_t *out = NULL;
    size_t len;
    pyro_error err = {0};
    _cleanup_free_ char *big = xcalloc(PROTO_BODY_MAX + 1, 1);
    assert_int_equal(proto_frame_encode(h, big, PROTO_BODY_MAX + 1, &out, &len, &err), -PYRO_E_PROTOCOL);
    assert_null(out);
    assert_int_equal(proto_frame_encode(h, big, PROTO_BODY_MAX, &out, &len, &err), 0);
    free(out);
    json_decref(h);
}

static void test_error_objects(void **state)
{
    pyro_error err = {0};
    json_t *e = proto_error_new(-2, "open a.txt: No such file or directory");
    assert_string_equal(json_get_str(e, "name", ""), pyro_error_name(-2));
    assert_int_equal(proto_error_to_err(e, &err), -2);
    assert_string_equal(err.message, "agent: open a.txt: No such file or directory");
    json_decref(e);
    e = json_pack("{s:i,s:s}", "code", 5, "message", "positive code");
    assert_int_equal(proto_error_to_err(e, &err), -PYRO_E_PROTOCOL);
    json_decref(e);
    assert_int_equal(proto_error_to_err(NULL, &err), -PYRO_E_PROTOCOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_round_trip), cmocka_unit_test(test_prefix_limits),
        cmocka_unit_test(test_frame_round_trip),  cmocka_unit_test(test_reader_split_frames),
        cmocka_unit_test(test_bad_headers),       cmocka_unit_test(test_garbage_rejected_early),
        cmocka_unit_test(test_encode_limits),     cmocka_unit_test(test_error_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
