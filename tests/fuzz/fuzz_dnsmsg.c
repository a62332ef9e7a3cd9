/* Fuzz target: the DNS wire format the egress allow-list's filter reads
 * (backend/dnsmsg.c): queries from an instance and replies from a
 * resolver, both untrusted. The input is a message. A question, when
 * accepted, lies within the message, its name is lowercase dotted labels
 * without empty ones, and an empty reply to it is as long as the question;
 * the answer reader stays within its bound and the message. The input up
 * to its first NUL is also an allow-list entry: accepted entries are
 * stable (parsing the normalized form gives it back). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/dnsfilter.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[DNSFILTER_NAME_MAX];
    uint16_t qtype;
    size_t qend;
    if (dnsmsg_question(data, size, name, &qtype, &qend) == 0) {
        CHECK(qend <= size && qend >= 17);
        size_t n = strlen(name);
        CHECK(n < DNSFILTER_NAME_MAX);
        CHECK(n == 0 || (name[0] != '.' && name[n - 1] != '.' && !strstr(name, "..")));
        for (size_t i = 0; i < n; i++)
            CHECK(!isupper((unsigned char)name[i]) && name[i] != '\0');
        uint8_t out[4096];
        if (qend <= sizeof(out))
            CHECK(dnsmsg_reply_empty(data, qend, DNSMSG_NXDOMAIN, out, sizeof(out)) == qend);
        char *names[] = {name, NULL};
        CHECK(dnsmsg_name_allowed(name, names));
    }
    struct in_addr addrs[8];
    uint32_t ttls[8];
    int na = dnsmsg_answers_a(data, size, addrs, ttls, 8);
    CHECK(na >= -1 && na <= 8);
    for (int i = 0; i < na; i++)
        CHECK(ttls[i] <= 0x7fffffffu);

    char entry[512], norm[DNSFILTER_NAME_MAX], again[DNSFILTER_NAME_MAX];
    size_t el = size < sizeof(entry) - 1 ? size : sizeof(entry) - 1;
    memcpy(entry, data, el);
    entry[el] = '\0';
    int kind = dnsfilter_entry_parse(entry, norm, NULL);
    if (kind >= 0) {
        CHECK(dnsfilter_entry_parse(norm, again, NULL) == kind);
        CHECK(strcmp(norm, again) == 0);
    }
    return 0;
}
