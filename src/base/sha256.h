/* SHA-256 (FIPS 180-4), self-contained. Uses the x86 SHA extensions when the
 * CPU has them (detected once at run time) and portable C otherwise. */
#ifndef PYRO_SHA256_H
#define PYRO_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN 65 /* 64 hex digits and a NUL */

struct sha256 {
    uint32_t h[8];
    uint64_t length; /* bytes hashed so far */
    uint8_t buf[64];
    size_t buflen;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t out[SHA256_DIGEST_LEN]);
/* Finishes s and writes the lowercase hex digest into hex. */
void sha256_final_hex(struct sha256 *s, char hex[SHA256_HEX_LEN]);
void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char hex[SHA256_HEX_LEN]);
/* Which block function runs: "sha-ni" or "portable". */
const char *sha256_impl(void);
/* Tests set this to exercise the portable block function. */
extern bool sha256_portable_only;

#endif
