/* The contract table: every operation pyro offers, in CLI listing order.
 * Each operation is defined next to its handler (op_<name> in its module);
 * this file only lists them. */
#include "lib/contract/contract.h"

extern const struct contract_op op_version;
extern const struct contract_op op_doctor;
extern const struct contract_op op_vm_run;
extern const struct contract_op op_vm_create;
extern const struct contract_op op_vm_start;
extern const struct contract_op op_vm_exec;
extern const struct contract_op op_vm_stop;
extern const struct contract_op op_vm_delete;
extern const struct contract_op op_vm_status;
extern const struct contract_op op_vm_network_info;
extern const struct contract_op op_vm_reap_expired;
extern const struct contract_op op_vm_list_environments;
extern const struct contract_op op_env_pull;
extern const struct contract_op op_env_inspect;
extern const struct contract_op op_env_prune;
extern const struct contract_op op_env_push;
extern const struct contract_op op_workspace_create;
extern const struct contract_op op_workspace_list;
extern const struct contract_op op_workspace_update;
extern const struct contract_op op_workspace_status;
extern const struct contract_op op_workspace_exec;
extern const struct contract_op op_workspace_logs;
extern const struct contract_op op_workspace_sync_push;
extern const struct contract_op op_workspace_export;
extern const struct contract_op op_workspace_diff;
extern const struct contract_op op_workspace_file_list;
extern const struct contract_op op_workspace_file_read;
extern const struct contract_op op_workspace_file_write;
extern const struct contract_op op_workspace_patch_apply;
extern const struct contract_op op_workspace_disk_export;
extern const struct contract_op op_workspace_disk_list;
extern const struct contract_op op_workspace_disk_read;
extern const struct contract_op op_snapshot_create;
extern const struct contract_op op_snapshot_list;
extern const struct contract_op op_snapshot_delete;
extern const struct contract_op op_shell_open;
extern const struct contract_op op_shell_read;
extern const struct contract_op op_shell_write;
extern const struct contract_op op_shell_signal;
extern const struct contract_op op_shell_close;
extern const struct contract_op op_workspace_reset;
extern const struct contract_op op_workspace_summary;
extern const struct contract_op op_workspace_stop;
extern const struct contract_op op_workspace_start;
extern const struct contract_op op_workspace_delete;
extern const struct contract_op op_service_start;
extern const struct contract_op op_service_list;
extern const struct contract_op op_service_status;
extern const struct contract_op op_service_logs;
extern const struct contract_op op_service_stop;
extern const struct contract_op op_prepare;
extern const struct contract_op op_demo;
extern const struct contract_op op_host_connect;
extern const struct contract_op op_host_print_config;
extern const struct contract_op op_host_doctor;
extern const struct contract_op op_host_repair;

const struct contract_op *const contract_ops[] = {
    /* host */
    &op_doctor,
    &op_version,
    &op_prepare,
    &op_demo,
    /* environments */
    &op_vm_list_environments,
    &op_env_pull,
    &op_env_inspect,
    &op_env_prune,
    &op_env_push,
    /* one-shot runs and the vm lifecycle */
    &op_vm_run,
    &op_vm_create,
    &op_vm_start,
    &op_vm_exec,
    &op_vm_stop,
    &op_vm_delete,
    &op_vm_status,
    &op_vm_network_info,
    &op_vm_reap_expired,
    /* workspaces */
    &op_workspace_create,
    &op_workspace_list,
    &op_workspace_update,
    &op_workspace_status,
    &op_workspace_exec,
    &op_workspace_logs,
    &op_workspace_sync_push,
    &op_workspace_export,
    &op_workspace_diff,
    &op_workspace_file_list,
    &op_workspace_file_read,
    &op_workspace_file_write,
    &op_workspace_patch_apply,
    &op_snapshot_create,
    &op_snapshot_list,
    &op_snapshot_delete,
    &op_shell_open,
    &op_shell_read,
    &op_shell_write,
    &op_shell_signal,
    &op_shell_close,
    &op_workspace_reset,
    &op_workspace_summary,
    &op_workspace_stop,
    &op_workspace_start,
    &op_workspace_delete,
    /* stopped-disk tools */
    &op_workspace_disk_export,
    &op_workspace_disk_list,
    &op_workspace_disk_read,
    /* workspace services */
    &op_service_start,
    &op_service_list,
    &op_service_status,
    &op_service_logs,
    &op_service_stop,
    /* chat hosts */
    &op_host_connect,
    &op_host_print_config,
    &op_host_doctor,
    &op_host_repair,
    NULL,
};

const struct contract_group contract_groups[] = {
    {"env", "Inspect and manage curated environments."},
    {"vm", "Manage ephemeral VMs (create, start, exec, stop, delete)."},
    {"workspace", "Manage persistent workspaces."},
    {"mcp", "Run the MCP server."},
    {"host", "Connect chat hosts (Claude Code, Codex, OpenCode) to pyro's MCP server."},
    {NULL, NULL},
};
