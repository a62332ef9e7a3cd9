/* Fuzz target: plain rendering of terminal output (shell_read's "plain",
 * lib/workspace/shell_render.c). Any bytes render to valid UTF-8 holding
 * no escape and no control character but newline and tab, at most 3 bytes
 * per input byte (U+FFFD for one invalid byte), and rendering that text
 * again changes nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "fuzz.h"
#include "lib/workspace/shell_render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n;
    _cleanup_free_ char *out = shell_render_plain((const char *)data, size, &n);
    CHECK(n == strlen(out));
    CHECK(n <= 3 * size);
    CHECK(utf8_valid(out, n));
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        CHECK(c >= 0x20 || c == '\n' || c == '\t');
        CHECK(c != 0x7f);
    }
    size_t n2;
    _cleanup_free_ char *again = shell_render_plain(out, n, &n2);
    CHECK(n2 == n && memcmp(again, out, n) == 0);
    return 0;
}
