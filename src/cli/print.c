/* Result rendering and progress markers for the CLI. */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "cli/cli.h"
#include "lib/contract/ctx.h"

void cli_print_kv(json_t *result)
{
    human_block(result, 0);
}

static const struct cli_printer *printer_find(const char *op)
{
    for (size_t i = 0; cli_printers[i].op; i++)
        if (!strcmp(cli_printers[i].op, op))
            return &cli_printers[i];
    return NULL;
}

int cli_print_result(struct cli_run *run, json_t *result)
{
    const struct cli_printer *p = printer_find(run->op->name);
    int status = p && p->exit_status ? p->exit_status(result) : 0;
    if (run->opts->json) {
        _cleanup_free_ char *t = json_dump(result, JSON_INDENT(2));
        printf("%s\n", t);
        return status;
    }
    if (run->opts->id_only && run->op->id_key) {
        printf("%s\n", json_get_str(result, run->op->id_key, ""));
        return status;
    }
    if (p)
        return p->print(run, result);
    cli_print_kv(result);
    return status;
}
