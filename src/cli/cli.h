/* Shared pieces of the CLI front end. */
#ifndef PYRO_CLI_H
#define PYRO_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/derive.h"
#include "lib/contract/contract.h"

struct cli_run {
    const struct contract_op *op;
    const struct cli_opts *opts;
    struct pyro_ctx *ctx;
    bool tty;         /* stderr is a terminal: draw progress in place */
    int progress_fd;  /* progress.c: updates to the painter, or -1 */
    int progress_pid; /* the painter process, or -1 */
};

/* A human renderer for one operation's result; returns the exit status.
 * exit_status (optional) maps a result to the exit status in --json and
 * --id-only modes too, so both renderings of one result exit alike. */
struct cli_printer {
    const char *op;
    int (*print)(struct cli_run *run, json_t *result);
    int (*exit_status)(const json_t *result);
};

/* Printers defined by the per-command files, NULL-terminated (print.c). */
extern const struct cli_printer cli_printers[];
/* service.c: logs print stdout and stderr to theirs; a start that failed
 * exits 1. */
int cli_print_service_logs(struct cli_run *run, json_t *result);
int cli_service_exit(const json_t *result);
int cli_print_service_start(struct cli_run *run, json_t *result);

int cli_print_result(struct cli_run *run, json_t *result);
/* The generic rendering (human.c): aligned "key  value" lines, nested
 * objects as indented blocks, lists of objects as tables. */
void cli_print_kv(json_t *result);

/* human.c: the pieces of human output. */
void human_size(long long bytes, char *buf, size_t size);
/* "3 min ago", "in 23 h", "just now". */
void human_age(int64_t at_ms, int64_t now_ms, char *buf, size_t size);
void human_block(json_t *obj, int indent);
/* rows (objects) as a table with a header; columns NULL: every key seen. */
void human_table(json_t *rows, const char *const *columns, int indent);

/* workspace.c */
int cli_print_ws_exec(struct cli_run *run, json_t *result);
int cli_print_ws_file_read(struct cli_run *run, json_t *result);
int cli_print_ws_diff(struct cli_run *run, json_t *result);
int cli_print_ws_list(struct cli_run *run, json_t *result);
int cli_print_ws_logs(struct cli_run *run, json_t *result);
int cli_print_shell_read(struct cli_run *run, json_t *result);

void cli_progress_attach(struct cli_run *run);
void cli_progress_detach(struct cli_run *run);

/* Per-command printers. */
int cli_print_doctor(struct cli_run *run, json_t *result);
int cli_doctor_exit(const json_t *result);
int cli_print_env_list(struct cli_run *run, json_t *result);
int cli_print_env_pull(struct cli_run *run, json_t *result);
int cli_print_env_inspect(struct cli_run *run, json_t *result);
int cli_print_env_prune(struct cli_run *run, json_t *result);

int cli_print_run(struct cli_run *run, json_t *result);

/* host.c */
int cli_host_exit(const json_t *result);
int cli_print_host_connect(struct cli_run *run, json_t *result);
int cli_print_host_repair(struct cli_run *run, json_t *result);
int cli_print_host_print_config(struct cli_run *run, json_t *result);
int cli_print_host_doctor(struct cli_run *run, json_t *result);
int cli_print_steps(struct cli_run *run, json_t *result);

/* `pyro mcp serve` (cmd_mcp.c); argv[0] is "mcp". */
int cli_mcp_main(int argc, char **argv);
/* `pyro completion ...` (completion.c); argv[0] is "completion". */
int cli_completion_main(int argc, char **argv);
int cli_run_exit(const json_t *result);

#endif
