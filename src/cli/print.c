/* Result rendering and progress markers for the CLI. */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "cli/cli.h"
#include "lib/contract/ctx.h"

void cli_print_kv(json_t *result)
{
    const char *k;
    json_t *v;
    size_t width = 0;
    json_object_foreach(result, k, v)
        if (strlen(k) > width)
            width = strlen(k);
    json_object_foreach(result, k, v) {
        printf("%-*s  ", (int)width + 1, k);
        if (json_is_string(v))
            printf("%s\n", json_string_value(v));
        else {
            _cleanup_free_ char *t = json_dump(v, 0);
            printf("%s\n", t);
        }
    }
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

/* Phase markers go to stderr ("[pull] phase=install environment=debian:12");
 * on a terminal, counted progress is drawn in place on one line. */
static void cli_progress(void *userdata, const char *operation, const char *phase, int64_t current, int64_t total,
                         const char *message)
{
    struct cli_run *run = userdata;
    if (run->opts->json)
        return;
    if (current >= 0 && total > 0) {
        if (!run->tty)
            return;
        fprintf(stderr, "\r[%s] %s %3d%% %s\033[K", operation, phase, (int)(current * 100 / total),
                message ? message : "");
        run->progress_line_open = true;
        return;
    }
    if (run->progress_line_open) {
        fputc('\n', stderr);
        run->progress_line_open = false;
    }
    fprintf(stderr, "[%s] phase=%s%s%s\n", operation, phase, message && message[0] ? " " : "", message ? message : "");
}

void cli_progress_attach(struct cli_run *run)
{
    pyro_ctx_set_progress(run->ctx, cli_progress, run);
}

void cli_progress_detach(struct cli_run *run)
{
    if (run->progress_line_open)
        fputc('\n', stderr);
    run->progress_line_open = false;
}
