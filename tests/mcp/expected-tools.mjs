// THE table of which tools each profile and mode exposes, written out by
// hand (not derived from the server) so that tools/list is checked against
// an independent statement. Only tools this build has are listed: when an
// operation lands in the contract table, add it here to every surface that
// exposes it. A surface whose tools are not built yet expects [].
//
// Built so far: the environment and VM tools.
const VM_FULL = [
  "vm_list_environments",
  "vm_run",
  "vm_create",
  "vm_start",
  "vm_exec",
  "vm_stop",
  "vm_delete",
  "vm_status",
  "vm_network_info",
  "vm_reap_expired",
];

export const EXPECTED = {
  profiles: {
    "vm-run": ["vm_run"],
    // workspace_create, workspace_list, workspace_update, workspace_status,
    // workspace_exec, workspace_logs, workspace_sync_push, workspace_file_list,
    // workspace_file_read, workspace_file_write, workspace_patch_apply,
    // workspace_diff, workspace_export, workspace_reset, workspace_summary,
    // workspace_delete once built.
    "workspace-core": [],
    "workspace-full": [...VM_FULL],
  },
  modes: {
    "repro-fix": [],
    "inspect": [],
    "cold-start": [],
    "review-eval": [],
  },
};
