/* The table of result printers: which operation's result the CLI renders
 * how (print.c looks it up). A table file of its own, so that the printers,
 * which use print.c's helpers, are not called back from print.c. */
#include "cli/cli.h"

const struct cli_printer cli_printers[] = {
    {"doctor", cli_print_doctor, cli_doctor_exit},
    {"vm_run", cli_print_run, cli_run_exit},
    {"vm_exec", cli_print_run, cli_run_exit},
    {"vm_list_environments", cli_print_env_list, NULL},
    {"env_pull", cli_print_env_pull, NULL},
    {"env_inspect", cli_print_env_inspect, NULL},
    {"env_prune", cli_print_env_prune, NULL},
    {"workspace_exec", cli_print_ws_exec, cli_run_exit},
    {"workspace_file_read", cli_print_ws_file_read, NULL},
    {"workspace_diff", cli_print_ws_diff, NULL},
    {"workspace_list", cli_print_ws_list, NULL},
    {"workspace_logs", cli_print_ws_logs, NULL},
    {"service_start", cli_print_service_start, cli_service_exit},
    {"service_logs", cli_print_service_logs, NULL},
    {"shell_read", cli_print_shell_read, NULL},
    {"prepare", cli_print_steps, NULL},
    {"demo", cli_print_steps, NULL},
    {"host_connect", cli_print_host_connect, cli_host_exit},
    {"host_print_config", cli_print_host_print_config, NULL},
    {"host_doctor", cli_print_host_doctor, cli_host_exit},
    {"host_repair", cli_print_host_repair, cli_host_exit},

    {NULL, NULL, NULL},
};
