/* Persistent workspaces (docs/workspaces.md): instances of kind
 * "workspaces" whose writable layer survives stop and start, with a seed,
 * an immutable baseline, a command history, events, snapshots and resets.
 * Every file operation goes through the agent (DESIGN.md invariant 2).
 *
 *   <state>/workspaces/<id>/record.json         the workspace record
 *   <state>/workspaces/<id>/upper/              the kept writable layer
 *   <state>/workspaces/<id>/baseline.tar        /workspace right after create
 *   <state>/workspaces/<id>/baseline.manifest.json  its manifest (diff)
 *   <state>/workspaces/<id>/snapshots/<name>.tar
 *   <state>/workspaces/<id>/history.jsonl       commands since the last reset
 *   <state>/workspaces/<id>/events.jsonl        syncs, writes, patches, ...
 */
#ifndef PYRO_WORKSPACE_H
#define PYRO_WORKSPACE_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"
#include "lib/contract/ctx.h"
#include "lib/vm/agent_client.h"
#include "lib/vm/instance.h"

#define WS_KIND "workspaces"
#define WS_ROOT "/workspace"
#define WS_DEFAULT_TTL_SECONDS 86400
/* History: entries kept, output kept per stream and entry. */
#define WS_HISTORY_MAX_ENTRIES 1000
#define WS_HISTORY_OUTPUT_MAX (64 * 1024)
#define WS_EVENTS_MAX 10000
/* Text files larger than this get no text diff and are not patched. */
#define WS_TEXT_MAX (1024 * 1024)
#define WS_SNAPSHOT_NAME_MAX 64
/* Agent requests that move whole trees. */
#define WS_TREE_TIMEOUT_MS (10 * 60 * 1000)
#define WS_CALL_TIMEOUT_MS 60000

/* Opens and locks a workspace; a reset interrupted by a crash is finished
 * first. A workspace whose create never finished is refused. */
int ws_open(struct pyro_ctx *ctx, const char *id, struct instance *out, pyro_error *err);
/* The preamble of the workspace operations: ws_open of args' workspace_id,
 * and when c is not NULL the connection to its agent (which needs it
 * started). On failure nothing is left open. */
int ws_open_op(struct pyro_ctx *ctx, const json_t *args, struct instance *inst, struct agent_conn **c, pyro_error *err);
/* Fails with a clear message unless the sandbox runs. */
int ws_require_running(const struct instance *inst, pyro_error *err);
/* The workspace record as results show it. */
json_t *ws_describe(const struct instance *inst);
/* The state name of results: started, stopped, expired, exited, failed. */
const char *ws_state(const struct instance *inst);
/* Marks mutating activity (last_activity_at) and saves the record. */
int ws_touch(struct instance *inst, pyro_error *err);

/* Guest paths: "/workspace/x", "x" and "./x" become "x" ("" for the root);
 * absolute paths elsewhere are refused, the rest is relpath_normalize's
 * (no "..", bounded length and depth). */
int ws_guest_rel(const char *path, char **rel, pyro_error *err);
char *ws_guest_abs(const char *rel);

/* Agent connection to the running workspace. */
int ws_agent(const struct instance *inst, struct agent_conn **out, pyro_error *err);
/* One request {op, args} with root /workspace filled in. */
int ws_call(struct agent_conn *c, const char *op, json_t *args, json_t **res, struct agent_body *body, pyro_error *err);

/* Imports the source open at src_fd (a directory or an archive named
 * source) beneath root/path in the guest through ws_archive_build_fd and
 * the agent's tar_in. *stats gets the host-side stats. */
int ws_import(struct instance *inst, struct agent_conn *c, int src_fd, const char *source, const char *root,
              const char *path, json_t **stats, pyro_error *err);
/* tar_out of /workspace/rel into fd. */
int ws_tar_out(struct agent_conn *c, const char *rel, int fd, json_t **res, pyro_error *err);
/* Restores an archive (a host tar file) as the whole /workspace. */
int ws_restore(struct agent_conn *c, const char *tar_path, pyro_error *err);
/* Writes the tar of /workspace to <dir>/<name> atomically (temp + rename). */
int ws_capture(struct instance *inst, struct agent_conn *c, const char *name, json_t **res, pyro_error *err);
/* The agent manifest of /workspace: {entries, count, truncated}. */
int ws_manifest(struct agent_conn *c, json_t **res, pyro_error *err);

/* History (history.jsonl) and events (events.jsonl). */
int ws_history_append(struct instance *inst, json_t *entry, pyro_error *err);
json_t *ws_jsonl_load(const struct instance *inst, const char *name, size_t max);
void ws_event(struct instance *inst, const char *kind, json_t *details);
int ws_journals_clear(struct instance *inst, pyro_error *err);

/* Recreates the sandbox and restores /workspace from "baseline" or a named
 * snapshot; clears history and events; records reset_count. */
int ws_reset_do(struct pyro_ctx *ctx, struct instance *inst, const char *snapshot, pyro_error *err);
/* A valid name for a named snapshot ("baseline" is reserved). */
int ws_snapshot_name_check(const char *name, pyro_error *err);
/* The record's entry of the named snapshot (and its index), or NULL. */
json_t *ws_snapshot_find(const struct instance *inst, const char *name, size_t *idx);

/* Compares /workspace with the baseline manifest. with_text adds unified
 * diffs of changed text files. */
int ws_diff_compute(struct instance *inst, struct agent_conn *c, bool with_text, json_t **out, pyro_error *err);

/* Services (ws_service.c). Stops every service of a running workspace
 * with reason (workspace_stopped, reset, deleted), best effort; returns
 * the public records of the services it stopped (never NULL). */
json_t *ws_services_stop_all(const struct instance *inst, const char *reason);
/* service_count and running_service_count into o (0 when not running). */
void ws_service_counts(const struct instance *inst, json_t *o);
/* Published ports (ws_ports.c), held by the monitor. Publishing checks
 * the policy, closes what a same-named ended service left, and binds all
 * of ports (validated PT_PORTS items) or none; *list gets the
 * {service_name, guest_port, host_port, host, protocol} objects. Ports not
 * confirmed within pending_ms are closed by the monitor. */
int ws_ports_publish(const struct instance *inst, const char *service, const json_t *ports, int64_t pending_ms,
                     int64_t *token, json_t **list, pyro_error *err);
/* The service runs with pid: its ports live as long as it does. */
void ws_ports_confirm(const struct instance *inst, int64_t token, int64_t pid);
/* Closes the ports of token, or of service, or (both unset) all; best
 * effort, nothing when the workspace does not run. */
void ws_ports_unpublish(const struct instance *inst, int64_t token, const char *service);
/* The published ports (of service, or all), [] when it does not run. */
json_t *ws_ports_list(const struct instance *inst, const char *service);
/* Closes every shell of a running workspace (ws_shell.c); returns how
 * many were open (0 when it does not run). */
int ws_shells_close_all(const struct instance *inst);

/* ws_disk.c: whether a seed of seed_bytes fits a disk of disk_mib. */
int ws_disk_check_seed(long long disk_mib, long long seed_bytes, pyro_error *err);

/* File reads (workspace_file_read, workspace_disk_read): max_bytes'
 * default and bound, and the content of what was read: a string of UTF-8
 * text, else of its base64 (*encoding "utf-8" or "base64"). */
#define WS_READ_DEFAULT 65536
#define WS_READ_MAX (1024 * 1024)
json_t *ws_content(const void *data, size_t len, const char **encoding);

#endif
