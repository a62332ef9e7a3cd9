/* Human output of `pyro workspace service ...`: logs print the service's
 * stdout and stderr to ours; a start whose service failed exits 1. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "cli/cli.h"

int cli_print_service_logs(struct cli_run *run, json_t *result)
{
    (void)run;
    const json_t *o = json_object_get(result, "stdout"), *e = json_object_get(result, "stderr");
    fwrite(json_string_value(o), 1, json_string_length(o), stdout);
    fflush(stdout);
    fwrite(json_string_value(e), 1, json_string_length(e), stderr);
    if (json_get_bool(result, "truncated", false))
        fprintf(stderr, "[service-logs] older output was dropped or cut\n");
    return 0;
}

int cli_service_exit(const json_t *result)
{
    return strcmp(json_get_str(result, "state", ""), "failed") ? 0 : 1;
}

int cli_print_service_start(struct cli_run *run, json_t *result)
{
    (void)run;
    cli_print_kv(result);
    return cli_service_exit(result);
}
