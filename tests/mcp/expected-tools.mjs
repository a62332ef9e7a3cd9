// THE table of which tools each profile and mode exposes, written out by
// hand (not derived from the server) so that tools/list is checked against
// an independent statement. Only tools this build has are listed: when an
// operation lands in the contract table, add it here to every surface that
// exposes it. A surface whose tools are not built yet expects [].
//
// Built so far: the environment, VM and workspace tools.
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

const WORKSPACE_CORE = [
  "workspace_create",
  "workspace_list",
  "workspace_update",
  "workspace_status",
  "workspace_exec",
  "workspace_logs",
  "workspace_sync_push",
  "workspace_file_list",
  "workspace_file_read",
  "workspace_file_write",
  "workspace_patch_apply",
  "workspace_diff",
  "workspace_export",
  "workspace_reset",
  "workspace_summary",
  "workspace_delete",
];

// In workspace-full only: lifecycle, snapshots and shells.
const WORKSPACE_FULL_ONLY = [
  "workspace_start",
  "workspace_stop",
  "snapshot_create",
  "snapshot_list",
  "snapshot_delete",
  "shell_open",
  "shell_read",
  "shell_write",
  "shell_signal",
  "shell_close",
];

// Stopped-disk tools: workspace-full only (absent from workspace-core, as in the seed).
const DISK = ["workspace_disk_export", "workspace_disk_list", "workspace_disk_read"];

// Services: workspace-full and the cold-start mode.
const SERVICES = ["service_start", "service_list", "service_status", "service_logs", "service_stop"];

export const EXPECTED = {
  profiles: {
    "vm-run": ["vm_run"],
    "workspace-core": [...WORKSPACE_CORE],
    "workspace-full": [...VM_FULL, ...WORKSPACE_CORE, ...WORKSPACE_FULL_ONLY, ...SERVICES, ...DISK],
  },
  modes: {
    "repro-fix": [
      "workspace_create", "workspace_status", "workspace_exec", "workspace_logs", "workspace_file_list",
      "workspace_file_read", "workspace_file_write", "workspace_patch_apply", "workspace_diff",
      "workspace_reset", "workspace_summary", "workspace_delete",
    ],
    "inspect": [
      "workspace_create", "workspace_status", "workspace_exec", "workspace_logs", "workspace_file_list",
      "workspace_file_read", "workspace_summary", "workspace_delete",
    ],
    "cold-start": [
      "workspace_create", "workspace_status", "workspace_exec", "workspace_logs", "workspace_file_list",
      "workspace_file_read", "workspace_reset", "workspace_summary", "workspace_delete", ...SERVICES,
    ],
    "review-eval": [
      "workspace_create", "workspace_status", "workspace_exec", "workspace_logs", "workspace_file_list",
      "workspace_file_read", "workspace_diff", "workspace_export", "workspace_summary", "workspace_delete",
    ],
  },
};
