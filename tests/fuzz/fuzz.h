/* What every fuzz target shares: the libFuzzer entry point, and CHECK, an
 * invariant whose failure aborts (a crash libFuzzer reports and ctest's
 * corpus replay fails on). */
#ifndef PYRO_TEST_FUZZ_H
#define PYRO_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)     \
    do {             \
        if (!(c))    \
            abort(); \
    } while (0)

#endif
