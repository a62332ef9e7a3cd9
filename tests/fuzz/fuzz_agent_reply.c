/* Fuzz target for the host-side unpacking of agent replies: everything an
 * agent (or something posing as one) can send back, after framing. The
 * input is "<op> <body length>\n<response header JSON>". The header goes
 * through the frame header decoder and then agent_reply_unpack, exactly as
 * the client does; hello headers through proto_hello_check. Whatever the
 * input, nothing may crash, and what is accepted must be consistent:
 *   - an accepted exec reply unpacks into the typed result, and packing
 *     that result gives back the same JSON, which unpacks again;
 *   - an accepted reply to any op passes its declaration again.
 * Built with -fsanitize=fuzzer under the `fuzz` preset; otherwise
 * tests/fuzz/replay.c replays corpus/agent_reply under ctest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "fuzz.h"
#include "lib/vm/agent_client.h"
#include "proto/exec.h"
#include "proto/proto.h"
#include "proto/reply.h"

static void check_exec(const json_t *res)
{
    struct proto_exec_result r, again;
    if (proto_exec_result_unpack(res, NULL, &r, NULL) < 0)
        abort(); /* the client accepted it: the typed unpack must too */
    json_t *packed = json_object();
    proto_exec_result_pack(&r, false, packed);
    if (!json_equal(packed, (json_t *)res))
        abort();
    if (proto_exec_result_unpack(packed, NULL, &again, NULL) < 0 || again.exit_code != r.exit_code ||
        again.out.len != r.out.len || (r.out.len && memcmp(again.out.text, r.out.text, r.out.len) != 0))
        abort();
    proto_exec_result_clear(&again);
    proto_exec_result_clear(&r);
    json_decref(packed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl || nl - data > 63)
        return 0;
    char line[64];
    memcpy(line, data, (size_t)(nl - data));
    line[nl - data] = '\0';
    char op[64];
    unsigned long body_len = 0;
    /* The op is the host's own request's (valid UTF-8); the reply is what
     * is fuzzed. */
    if (sscanf(line, "%63s %lu", op, &body_len) < 1 || !utf8_valid(op, strlen(op)))
        return 0;
    const char *hdr = (const char *)nl + 1;
    size_t hdr_len = size - (size_t)(nl + 1 - data);

    struct proto_frame f = {0};
    if (proto_header_decode(hdr, hdr_len, &f, NULL) < 0)
        return 0;
    if (f.type == PROTO_HELLO) {
        (void)proto_hello_check(f.hdr, NULL);
    } else {
        json_t *res = NULL;
        pyro_error err = {0};
        if (agent_reply_unpack(op, f.hdr, (size_t)body_len, &res, &err) == 0) {
            if (!json_is_object(res) || proto_reply_check(op, res, (size_t)body_len, NULL) < 0)
                abort();
            if (strcmp(op, "exec") == 0)
                check_exec(res);
            json_decref(res);
        } else if (err.code >= 0 || !utf8_valid(err.message, strlen(err.message))) {
            abort(); /* a refusal is a negative code with a message that can travel in JSON */
        }
    }
    proto_frame_clear(&f);
    return 0;
}
