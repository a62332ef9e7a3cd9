/* Fuzz target: the JSON record loader (record.c). Whatever the bytes, the
 * loader either rejects them with an error or returns an object that
 * re-serialises and re-parses to an equal value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/record.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pyro_error err = {0};
    json_t *rec = NULL;
    int r = record_parse((const char *)data, size, &rec, &err);
    if (r < 0) {
        if (err.code != -PYRO_E_CORRUPT || !err.message[0] || rec)
            abort();
        return 0;
    }
    if (!json_is_object(rec))
        abort();
    char *text = json_dump(rec, 0);
    json_t *again = NULL;
    if (record_parse(text, strlen(text), &again, &err) < 0 || !json_equal(rec, again))
        abort();
    json_decref(again);
    json_decref(rec);
    free(text);
    return 0;
}
