/* Fuzz target for the agent frame and header decoder (both ends of the
 * channel run it on untrusted bytes). The input is treated as a byte
 * stream, fed to a proto_reader in pieces whose size the first byte picks;
 * every decoded frame must re-encode and decode to the same type, id, op and
 * body. Built with -fsanitize=fuzzer under the `fuzz` preset; otherwise
 * tests/fuzz/replay.c replays files and directories given on the command line, so the
 * committed corpus runs under ctest (label fuzz). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "fuzz.h"
#include "proto/proto.h"

static void check_round_trip(const struct proto_frame *f)
{
    uint8_t *buf = NULL;
    size_t len = 0, used = 0;
    struct proto_frame g;

    if (proto_frame_encode(f->hdr, f->body, f->body_len, &buf, &len, NULL) < 0)
        abort(); /* a decoded frame always fits the limits again */
    if (proto_frame_decode(buf, len, &g, &used, NULL) != 1 || used != len)
        abort();
    if (g.type != f->type || g.id != f->id || g.body_len != f->body_len ||
        (f->body_len && memcmp(g.body, f->body, f->body_len) != 0))
        abort();
    if ((f->op == NULL) != (g.op == NULL) || (f->op && strcmp(f->op, g.op) != 0))
        abort();
    proto_frame_clear(&g);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_reader r = {0};
    struct proto_frame f;
    size_t step = size ? (size_t)(data[0] % 61) + 1 : 1;
    int ret = 0;

    for (size_t off = 0; off < size && ret >= 0;) {
        size_t n = size - off < step ? size - off : step;
        proto_reader_push(&r, data + off, n);
        off += n;
        while ((ret = proto_reader_next(&r, &f, NULL)) > 0) {
            check_round_trip(&f);
            proto_frame_clear(&f);
        }
    }
    proto_reader_free(&r);

    /* The header parser alone, on the raw bytes. */
    memset(&f, 0, sizeof(f));
    if (proto_header_decode((const char *)data, size, &f, NULL) == 0)
        proto_frame_clear(&f);
    return 0;
}
