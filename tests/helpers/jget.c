/* pyro-jget PATH: the test scripts' JSON field access (jget in
 * tests/integration/lib.sh). Reads one JSON document from stdin and prints
 * the value at PATH: keys and list indexes separated by dots, an index
 * counting from the end when negative ("environments.-1.name"). A string is
 * printed raw; an object, array, true, false or null as one line of JSON
 * with ", " and ": " separators, non-ASCII escaped (the form of Python's
 * json.dumps, which the scripts used before, so their greps still match);
 * a number as itself (a real in its shortest form that reads back exactly).
 * Exit 1 with a message naming the step when the input is not JSON or the
 * path is not there. A C helper because the suites call it a thousand times
 * and a Python start costs the 2-core machine 70 ms of CPU each. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_real(double d)
{
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* A whole real keeps a fraction, as Python prints 2.0. */
    if (!strpbrk(buf, ".eEn"))
        strcat(buf, ".0");
    puts(buf);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pyro-jget PATH < JSON\n");
        return 2;
    }
    json_error_t jerr;
    json_t *doc = json_loadf(stdin, JSON_DECODE_ANY, &jerr);
    if (!doc) {
        fprintf(stderr, "pyro-jget: input is not JSON: %s (line %d)\n", jerr.text, jerr.line);
        return 1;
    }
    json_t *v = doc;
    char *path = strdup(argv[1]), *save = NULL;
    for (char *k = strtok_r(path, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        json_t *next = NULL;
        if (json_is_array(v)) {
            char *end;
            long i = strtol(k, &end, 10);
            if (*end || end == k) {
                fprintf(stderr, "pyro-jget: '%s' is not an index of a list\n", k);
                return 1;
            }
            if (i < 0)
                i += (long)json_array_size(v);
            next = i >= 0 ? json_array_get(v, (size_t)i) : NULL;
        } else if (json_is_object(v)) {
            next = json_object_get(v, k);
        }
        if (!next) {
            fprintf(stderr, "pyro-jget: no '%s' at that step of %s\n", k, argv[1]);
            return 1;
        }
        v = next;
    }
    if (json_is_string(v)) {
        fwrite(json_string_value(v), 1, json_string_length(v), stdout);
        putchar('\n');
    } else if (json_is_integer(v)) {
        printf("%" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
    } else if (json_is_real(v)) {
        print_real(json_real_value(v));
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
        if (!s)
            return 1;
        puts(s);
        free(s);
    }
    free(path);
    json_decref(doc);
    return fflush(stdout) == 0 ? 0 : 1;
}
