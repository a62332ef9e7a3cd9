#include "base/id.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char id_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

void id_random(char *buf, size_t size)
{
    if (size == 0)
        return;
    size_t n = size - 1, i = 0;
    unsigned char rnd[64];
    while (i < n) {
        size_t want = n - i > sizeof(rnd) ? sizeof(rnd) : n - i;
        ssize_t got = getrandom(rnd, want, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            abort(); /* getrandom never fails on Linux >= 3.17 once seeded */
        }
        for (ssize_t k = 0; k < got && i < n; k++) {
            /* Reject the biased top of the range: 252 = 7 * 36. */
            if (rnd[k] >= 252)
                continue;
            buf[i++] = id_alphabet[rnd[k] % 36];
        }
    }
    buf[n] = '\0';
}

bool id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64 || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}
