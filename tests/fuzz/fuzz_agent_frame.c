/* Fuzz target for the agent frame and header decoder (both ends of the
 * channel run it on untrusted bytes). The input is treated as a byte
 * stream, fed to a proto_reader in pieces whose size the first byte picks;
 * every decoded frame must re-encode and decode to the same type, id, op and
 * body. Built with -fsanitize=fuzzer under the `fuzz` preset; otherwise
 * main() replays files and directories given on the command line, so the
 * committed corpus runs under ctest (label fuzz). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

#ifndef PYRO_LIBFUZZER
static int replay_file(const char *path)
{
    _cleanup_fclose_ FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return 1;
    }
    size_t cap = 4096, len = 0, n;
    _cleanup_free_ uint8_t *buf = xmalloc(cap);
    while ((n = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += n;
        if (len == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    LLVMFuzzerTestOneInput(buf, len);
    return 0;
}

int main(int argc, char **argv)
{
    int failed = 0, count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= replay_file(argv[i]);
            count++;
            continue;
        }
        _cleanup_closedir_ DIR *d = opendir(argv[i]);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            _cleanup_free_ char *p = xasprintf("%s/%s", argv[i], de->d_name);
            failed |= replay_file(p);
            count++;
        }
    }
    printf("replayed %d inputs\n", count);
    return failed || count == 0;
}
#endif
