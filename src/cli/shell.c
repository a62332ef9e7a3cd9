/* Human output of `pyro workspace shell read`: the output as is on stdout
 * (raw, or plain with --plain), where to read next on stderr. */
#include <stdio.h>

#include "base/json.h"
#include "cli/cli.h"

int cli_print_shell_read(struct cli_run *run, json_t *result)
{
    (void)run;
    const json_t *o = json_object_get(result, "output");
    fwrite(json_string_value(o), 1, json_string_length(o), stdout);
    fflush(stdout);
    fprintf(stderr, "[shell-read] shell_id=%s state=%s cursor=%lld next_cursor=%lld%s%s\n",
            json_get_str(result, "shell_id", ""), json_get_str(result, "state", ""), json_get_int(result, "cursor", 0),
            json_get_int(result, "next_cursor", 0), json_get_bool(result, "truncated", false) ? " truncated=true" : "",
            json_get_bool(result, "has_more", false) ? " has_more=true" : "");
    return 0;
}
