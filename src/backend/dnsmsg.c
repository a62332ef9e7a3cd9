/* Allow-list entries and the DNS wire format the filter needs (RFC 1035
 * 4.1): the question of a query, the A records of a reply, an empty reply.
 * Both queries (from the instance) and replies (from the upstream
 * resolver) are untrusted: every read is checked against the length. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/dnsfilter.h"

#define HDR 12

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static bool label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return false;
    return true;
}

static int parse_cidr(const char *entry, char out[DNSFILTER_NAME_MAX], pyro_error *err)
{
    char addr[INET_ADDRSTRLEN];
    const char *slash = strchr(entry, '/');
    size_t alen = slash ? (size_t)(slash - entry) : strlen(entry);
    int prefix = 32;
    if (alen >= sizeof(addr))
        return -1;
    memcpy(addr, entry, alen);
    addr[alen] = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, addr, &a) != 1)
        return -1;
    if (slash) {
        char *end = NULL;
        long p = strtol(slash + 1, &end, 10);
        if (!isdigit((unsigned char)slash[1]) || *end || p < 0 || p > 32)
            return err_set(err, -PYRO_E_INVALID, "allow_hosts entry '%s': the prefix length must be 0 to 32", entry);
        prefix = (int)p;
    }
    uint32_t mask = prefix ? 0xffffffffu << (32 - prefix) : 0;
    a.s_addr = htonl(ntohl(a.s_addr) & mask);
    snprintf(out, DNSFILTER_NAME_MAX, "%s/%d", inet_ntoa(a), prefix);
    return DNSFILTER_ENTRY_CIDR;
}

int dnsfilter_entry_parse(const char *entry, char out[DNSFILTER_NAME_MAX], pyro_error *err)
{
    size_t n = entry ? strlen(entry) : 0;
    if (n == 0)
        return err_set(err, -PYRO_E_INVALID, "allow_hosts entries must not be empty");
    if (strchr(entry, ':'))
        return err_set(err, -PYRO_E_INVALID,
                       "allow_hosts entry '%s': IPv6 is not supported (instances have no IPv6 egress); give "
                       "domain names or IPv4 CIDRs",
                       entry);
    int r = parse_cidr(entry, out, err);
    if (r != -1)
        return r;
    if (n > 1 && entry[n - 1] == '.')
        n--; /* the root's dot */
    const char *s = entry;
    if (n > 2 && s[0] == '*' && s[1] == '.') {
        s += 2;
        n -= 2;
    }
    bool ok = n > 0 && n <= DNSFILTER_NAME_MAX - 1 - (size_t)(s - entry);
    bool numeric_tld = true;
    for (size_t i = 0, start = 0; ok && i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        ok = label_ok(s + start, i - start);
        numeric_tld = true;
        for (size_t k = start; k < i; k++)
            numeric_tld = numeric_tld && isdigit((unsigned char)s[k]);
        start = i + 1;
    }
    if (!ok || numeric_tld)
        return err_set(err, -PYRO_E_INVALID,
                       "allow_hosts entry '%s' is neither a domain name (letters, digits, '-' and '_' in "
                       "dot-separated labels, optionally starting with '*.') nor an IPv4 CIDR (a.b.c.d/len)",
                       entry);
    size_t total = (size_t)(s - entry) + n;
    for (size_t i = 0; i < total; i++)
        out[i] = (char)tolower((unsigned char)entry[i]);
    out[total] = '\0';
    return DNSFILTER_ENTRY_NAME;
}

/* Skips a possibly compressed name at *off; -1 when it runs past len. */
static int name_skip(const uint8_t *m, size_t len, size_t *off)
{
    size_t o = *off;
    for (int labels = 0; labels < 128; labels++) {
        if (o >= len)
            return -1;
        uint8_t l = m[o];
        if ((l & 0xc0) == 0xc0) {
            if (o + 2 > len)
                return -1;
            *off = o + 2;
            return 0;
        }
        if (l & 0xc0)
            return -1;
        o += 1u + l;
        if (l == 0) {
            *off = o;
            return 0;
        }
    }
    return -1;
}

int dnsmsg_question(const uint8_t *msg, size_t len, char name[DNSFILTER_NAME_MAX], uint16_t *qtype, size_t *qend)
{
    if (len < HDR + 5 || (msg[2] & 0x80) || (msg[2] & 0x78) || get16(msg + 4) != 1)
        return -1; /* a reply, not QUERY, or not one question */
    size_t o = HDR, w = 0;
    for (;;) {
        if (o >= len)
            return -1;
        uint8_t l = msg[o++];
        if (l == 0)
            break;
        if (l > 63 || o + l > len || w + l + 1 >= DNSFILTER_NAME_MAX)
            return -1; /* compression has no place in a question */
        if (w)
            name[w++] = '.';
        for (uint8_t i = 0; i < l; i++) {
            char c = (char)tolower(msg[o + i]);
            if (c == '\0' || c == '.')
                return -1;
            name[w++] = c;
        }
        o += l;
    }
    name[w] = '\0';
    if (o + 4 > len)
        return -1;
    *qtype = get16(msg + o);
    *qend = o + 4;
    return 0;
}

bool dnsmsg_name_allowed(const char *name, char *const *names)
{
    size_t n = strlen(name);
    for (; names && *names; names++) {
        const char *p = *names;
        if (p[0] == '*' && p[1] == '.') {
            size_t s = strlen(p + 1); /* ".example.com" */
            if (n > s && !strcmp(name + n - s, p + 1))
                return true;
        } else if (!strcmp(name, p)) {
            return true;
        }
    }
    return false;
}

size_t dnsmsg_reply_empty(const uint8_t *msg, size_t qend, int rcode, uint8_t *out, size_t cap)
{
    if (qend > cap || qend < HDR)
        return 0;
    memcpy(out, msg, qend);
    out[2] = (uint8_t)(0x80 | (msg[2] & 0x01)); /* QR, opcode 0, RD as asked */
    out[3] = (uint8_t)(0x80 | (rcode & 0x0f));  /* RA */
    memset(out + 6, 0, 6);                      /* no answer, authority or additional records */
    return qend;
}

int dnsmsg_answers_a(const uint8_t *reply, size_t len, struct in_addr *addrs, uint32_t *ttls, int max)
{
    if (len < HDR || !(reply[2] & 0x80))
        return -1;
    unsigned qd = get16(reply + 4), an = get16(reply + 6);
    size_t o = HDR;
    for (unsigned i = 0; i < qd; i++) {
        if (name_skip(reply, len, &o) < 0 || o + 4 > len)
            return -1;
        o += 4;
    }
    int found = 0;
    for (unsigned i = 0; i < an; i++) {
        if (name_skip(reply, len, &o) < 0 || o + 10 > len)
            return -1;
        uint16_t type = get16(reply + o), cls = get16(reply + o + 2), rdlen = get16(reply + o + 8);
        uint32_t ttl = (uint32_t)get16(reply + o + 4) << 16 | get16(reply + o + 6);
        o += 10;
        if (o + rdlen > len)
            return -1;
        if (type == 1 && cls == 1 && rdlen == 4 && found < max) {
            memcpy(&addrs[found].s_addr, reply + o, 4);
            ttls[found++] = ttl > 0x7fffffffu ? 0 : ttl;
        }
        o += rdlen;
    }
    return found;
}
