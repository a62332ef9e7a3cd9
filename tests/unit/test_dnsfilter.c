/* Egress allow-lists (backend/dnsfilter.h): entries, name matching, and
 * the DNS wire format the filter reads from instances and resolvers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "backend/dnsfilter.h"

static void test_entries(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out; /* out NULL: refused */
        int kind;
    } cases[] = {
        {"example.com", "example.com", DNSFILTER_ENTRY_NAME},
        {"Example.COM.", "example.com", DNSFILTER_ENTRY_NAME},
        {"*.cdn.example.org", "*.cdn.example.org", DNSFILTER_ENTRY_NAME},
        {"_srv.x-y.test", "_srv.x-y.test", DNSFILTER_ENTRY_NAME},
        {"localhost", "localhost", DNSFILTER_ENTRY_NAME},
        {"10.1.2.3", "10.1.2.3/32", DNSFILTER_ENTRY_CIDR},
        {"10.1.2.3/8", "10.0.0.0/8", DNSFILTER_ENTRY_CIDR},
        {"0.0.0.0/0", "0.0.0.0/0", DNSFILTER_ENTRY_CIDR},
        {"", NULL, 0},
        {"*", NULL, 0},
        {"*.", NULL, 0},
        {"*.*.example.com", NULL, 0},
        {"a.*.example.com", NULL, 0},
        {"bad host", NULL, 0},
        {"exa!mple.com", NULL, 0},
        {"a..b", NULL, 0},
        {".a.b", NULL, 0},
        {"-a.b", NULL, 0},
        {"a-.b", NULL, 0},
        {"1.2.3", NULL, 0},
        {"10.0.0.0/33", NULL, 0},
        {"10.0.0.0/", NULL, 0},
        {"10.0.0.0/-1", NULL, 0},
        {"10.0.0.0/8x", NULL, 0},
        {"2001:db8::/32", NULL, 0},
        {"::1", NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[DNSFILTER_NAME_MAX] = "";
        pyro_error err = {0};
        int r = dnsfilter_entry_parse(cases[i].in, out, &err);
        if (cases[i].out) {
            if (r != cases[i].kind)
                fail_msg("'%s': got %d (%s)", cases[i].in, r, err.message);
            assert_string_equal(out, cases[i].out);
        } else {
            if (r >= 0)
                fail_msg("'%s' accepted as '%s'", cases[i].in, out);
            assert_int_equal(r, -PYRO_E_INVALID);
            assert_non_null(strstr(err.message, "allow_hosts entr"));
        }
    }
    char label[70], name[300], out[DNSFILTER_NAME_MAX];
    memset(label, 'a', 64);
    label[64] = '\0';
    assert_true(dnsfilter_entry_parse(label, out, NULL) < 0); /* a label of 64 */
    memset(name, 0, sizeof(name));
    for (int i = 0; i < 64; i++)
        strcat(name, "abc.");
    strcat(name, "com");
    assert_true(dnsfilter_entry_parse(name, out, NULL) < 0); /* longer than 253 */
}

static void test_match(void **state)
{
    (void)state;
    char *names[] = {"example.com", "*.cdn.test", NULL};
    assert_true(dnsmsg_name_allowed("example.com", names));
    assert_false(dnsmsg_name_allowed("www.example.com", names));
    assert_false(dnsmsg_name_allowed("xexample.com", names));
    assert_true(dnsmsg_name_allowed("a.cdn.test", names));
    assert_true(dnsmsg_name_allowed("a.b.cdn.test", names));
    assert_false(dnsmsg_name_allowed("cdn.test", names));
    assert_false(dnsmsg_name_allowed("xcdn.test", names));
    assert_false(dnsmsg_name_allowed("", names));
    assert_false(dnsmsg_name_allowed("example.com", NULL));
}

/* A query for name (type A), id 0x1234, RD. */
static size_t query(const char *name, uint8_t *q)
{
    static const uint8_t hdr[12] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    memcpy(q, hdr, 12);
    size_t o = 12;
    for (const char *p = name; *p;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        q[o++] = (uint8_t)n;
        memcpy(q + o, p, n);
        o += n;
        p += n + (dot ? 1 : 0);
    }
    q[o++] = 0;
    memcpy(q + o, "\x00\x01\x00\x01", 4);
    return o + 4;
}

static void test_question_and_reply(void **state)
{
    (void)state;
    uint8_t q[512], out[512];
    size_t n = query("WWW.Example.com", q), qend;
    char name[DNSFILTER_NAME_MAX];
    uint16_t qtype;
    assert_int_equal(dnsmsg_question(q, n, name, &qtype, &qend), 0);
    assert_string_equal(name, "www.example.com");
    assert_int_equal(qtype, 1);
    assert_int_equal(qend, n);
    size_t rn = dnsmsg_reply_empty(q, qend, DNSMSG_NXDOMAIN, out, sizeof(out));
    assert_int_equal(rn, qend);
    assert_int_equal(out[0], 0x12);
    assert_int_equal(out[2], 0x81); /* QR, RD */
    assert_int_equal(out[3] & 0x0f, 3);
    assert_int_equal(out[7], 0); /* no answers */
    /* Truncated anywhere: refused, never read past the end. */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(dnsmsg_question(q, k, name, &qtype, &qend), -1);
    /* A reply, two questions, a compression pointer: not served. */
    uint8_t bad[512];
    memcpy(bad, q, n);
    bad[2] |= 0x80;
    assert_int_equal(dnsmsg_question(bad, n, name, &qtype, &qend), -1);
    memcpy(bad, q, n);
    bad[5] = 2;
    assert_int_equal(dnsmsg_question(bad, n, name, &qtype, &qend), -1);
    memcpy(bad, q, n);
    bad[12] = 0xc0;
    assert_int_equal(dnsmsg_question(bad, n, name, &qtype, &qend), -1);
    /* A label holding a dot would forge another name. */
    n = query("evil", q);
    q[14] = '.';
    assert_int_equal(dnsmsg_question(q, n, name, &qtype, &qend), -1);
}

static void test_answers(void **state)
{
    (void)state;
    uint8_t r[512];
    size_t n = query("a.test", r);
    r[2] = 0x81, r[3] = 0x80, r[7] = 3; /* a reply with three answers */
    static const uint8_t cname[] = {0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, 'b', 0xc0, 0x0e};
    static const uint8_t a1[] = {1, 'b', 0xc0, 0x0e, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 7};
    static const uint8_t a2[] = {0xc0, 0x0c, 0, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 4, 198, 51, 100, 1};
    memcpy(r + n, cname, sizeof(cname));
    n += sizeof(cname);
    memcpy(r + n, a1, sizeof(a1));
    n += sizeof(a1);
    memcpy(r + n, a2, sizeof(a2));
    n += sizeof(a2);
    struct in_addr addrs[4];
    uint32_t ttls[4];
    assert_int_equal(dnsmsg_answers_a(r, n, addrs, ttls, 4), 2);
    assert_string_equal(inet_ntoa(addrs[0]), "192.0.2.7");
    assert_int_equal(ttls[0], 300);
    assert_string_equal(inet_ntoa(addrs[1]), "198.51.100.1");
    assert_int_equal(ttls[1], 0); /* a TTL with the top bit set counts as 0 */
    assert_int_equal(dnsmsg_answers_a(r, n, addrs, ttls, 1), 1);
    for (size_t k = 12; k < n; k++)
        assert_true(dnsmsg_answers_a(r, k, addrs, ttls, 4) <= 1); /* cut short: malformed or partial */
    r[2] &= 0x7f;                                                 /* a query is no answer */
    assert_int_equal(dnsmsg_answers_a(r, n, addrs, ttls, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entries),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_question_and_reply),
        cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
