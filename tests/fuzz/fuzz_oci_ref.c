/* Fuzz target: OCI image references (lib/env/oci_ref.c). An accepted
 * reference formats to a canonical name that parses again to the same
 * parts (idempotent), has a registry and a repository of lowercase
 * components, or (oci:PATH) an absolute layout path and neither, and a
 * tag or a sha256 digest; a refusal is -PYRO_E_INVALID
 * with a message. The same input is also split as shell words
 * (base/shell.c): no word is longer than the input, the vector ends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/shell.h"
#include "fuzz.h"
#include "lib/env/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = xmalloc(size + 1);
    memcpy(in, data, size);
    in[size] = '\0';
    struct oci_ref r;
    pyro_error err = {0};
    int rc = oci_ref_parse(in, "docker.io", &r, &err);
    if (rc < 0) {
        CHECK(rc == -PYRO_E_INVALID && err.message[0]);
    } else {
        CHECK(rc == 0 && (r.tag[0] || r.digest[0]));
        CHECK(!r.digest[0] || oci_digest_ok(r.digest));
        if (r.layout[0]) /* oci:PATH: an absolute layout path, no registry */
            CHECK(r.layout[0] == '/' && !r.registry[0] && !r.repo[0]);
        else
            CHECK(r.registry[0] && r.repo[0]);
        for (const char *c = r.repo; *c; c++)
            CHECK((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("._-/", *c));
        char canon[OCI_REF_MAX + 600];
        oci_ref_format(&r, canon, sizeof(canon));
        struct oci_ref again;
        if (strlen(canon) < OCI_REF_MAX) {
            CHECK(oci_ref_parse(canon, "elsewhere.example", &again, NULL) == 0);
            CHECK(!strcmp(again.registry, r.registry) && !strcmp(again.repo, r.repo) && !strcmp(again.tag, r.tag) &&
                  !strcmp(again.digest, r.digest) && !strcmp(again.layout, r.layout));
        }
    }
    char **w = shell_split_words(in);
    for (size_t i = 0; w && w[i]; i++) {
        CHECK(strlen(w[i]) <= size); /* a word is never longer than the command */
        free(w[i]);
    }
    free(w);
    free(in);
    return 0;
}
