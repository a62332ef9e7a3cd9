/* Human output of `pyro run` and `pyro vm exec`: the command's own streams
 * on ours, a one-line summary on stderr, and the command's exit status. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "cli/cli.h"

int cli_run_exit(const json_t *result)
{
    if (json_get_bool(result, "timed_out", false))
        return 124;
    long long code = json_get_int(result, "exit_code", 1);
    return code >= 0 && code <= 255 ? (int)code : 1;
}

static void write_stream(FILE *f, const json_t *result, const char *key)
{
    const json_t *v = json_object_get(result, key);
    if (json_is_string(v)) {
        fwrite(json_string_value(v), 1, json_string_length(v), f);
        fflush(f);
    }
}

int cli_print_run(struct cli_run *run, json_t *result)
{
    write_stream(stdout, result, "stdout");
    write_stream(stderr, result, "stderr");
    const json_t *cleanup = json_object_get(result, "cleanup");
    char trunc[96] = "";
    if (json_get_bool(result, "stdout_truncated", false) || json_get_bool(result, "stderr_truncated", false))
        snprintf(trunc, sizeof(trunc), " output_truncated=stdout:%lld,stderr:%lld",
                 json_get_int(result, "stdout_dropped_bytes", 0), json_get_int(result, "stderr_dropped_bytes", 0));
    /* Limits the host could not enforce (a user without cgroup delegation) */
    char unenf[64] = "";
    const json_t *lu = json_object_get(result, "limits_unenforced");
    for (size_t i = 0; i < json_array_size(lu); i++) {
        size_t n = strlen(unenf);
        snprintf(unenf + n, sizeof(unenf) - n, "%s%s", i ? "," : " limits_unenforced=",
                 json_string_value(json_array_get(lu, i)) ? json_string_value(json_array_get(lu, i)) : "?");
    }
    fprintf(stderr, "[%s] vm_id=%s environment=%s execution_mode=%s exit_code=%lld duration_ms=%lld%s%s%s%s\n",
            strcmp(run->op->name, "vm_run") ? "exec" : "run", json_get_str(result, "vm_id", ""),
            json_get_str(result, "environment", ""), json_get_str(result, "execution_mode", ""),
            json_get_int(result, "exit_code", -1), json_get_int(result, "duration_ms", 0),
            json_get_bool(result, "timed_out", false) ? " timed_out=true" : "", trunc, unenf,
            cleanup && !json_get_bool(cleanup, "deleted", false) ? " cleanup=failed" : "");
    return cli_run_exit(result);
}
