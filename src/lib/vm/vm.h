/* VM operations shared by vm_* and run. */
#ifndef PYRO_VM_H
#define PYRO_VM_H

#include <jansson.h>

#include "lib/contract/ctx.h"
#include "base/err.h"
#include "lib/vm/instance.h"

/* Result of running one command (vm_exec, vm_run, later workspace_exec). */
#define VM_EXEC_PROPS                                                                                        \
    "\"vm_id\":{\"type\":\"string\"},\"environment\":{\"type\":\"string\"},\"command\":{\"type\":\"string\"},"\
    "\"exit_code\":{\"type\":\"integer\"},\"stdout\":{\"type\":\"string\"},\"stderr\":{\"type\":\"string\"},"  \
    "\"stdout_truncated\":{\"type\":\"boolean\"},\"stderr_truncated\":{\"type\":\"boolean\"},"              \
    "\"stdout_dropped_bytes\":{\"type\":\"integer\"},\"stderr_dropped_bytes\":{\"type\":\"integer\"},"      \
    "\"stdout_replaced\":{\"type\":\"integer\"},\"stderr_replaced\":{\"type\":\"integer\"},"                \
    "\"timed_out\":{\"type\":\"boolean\"},\"signal\":{\"type\":\"integer\"},"                               \
    "\"duration_ms\":{\"type\":\"integer\"},\"started_at\":{\"type\":\"string\"},"                          \
    "\"execution_mode\":{\"type\":\"string\"},\"cleanup\":{\"type\":\"object\"}"
#define VM_EXEC_REQUIRED                                                                                     \
    "\"vm_id\",\"environment\",\"command\",\"exit_code\",\"stdout\",\"stderr\",\"stdout_truncated\","       \
    "\"stderr_truncated\",\"timed_out\",\"duration_ms\",\"started_at\",\"execution_mode\""
#define VM_EXEC_SCHEMA "{\"type\":\"object\",\"required\":[" VM_EXEC_REQUIRED "],\"properties\":{" VM_EXEC_PROPS "}}"

/* Output kept per stream (the agent counts what it drops beyond). */
#define VM_EXEC_CAPTURE_MAX (1024 * 1024)

int vm_record_new(struct pyro_ctx *ctx, json_t *args, struct instance *out, pyro_error *err);
int vm_open(struct pyro_ctx *ctx, const char *id, struct instance *out, pyro_error *err);
/* Runs command with /bin/sh -c in cwd through the instance's monitor and
 * agent, and copies the agent's result keys (exit_code, stdout, stderr,
 * truncation and replacement counts, timed_out, signal, duration_ms) into
 * out. Errors say when the sandbox expired or stopped meanwhile. */
int instance_exec(struct instance *inst, const char *command, const char *cwd, int timeout_seconds, json_t *out,
                  pyro_error *err);
/* Runs command through the instance's monitor and agent; the result has
 * the VM_EXEC keys (without cleanup). */
int vm_exec_command(struct pyro_ctx *ctx, struct instance *inst, const char *command, int timeout_seconds,
                    json_t **result, pyro_error *err);

/* Deletes the VM after its command (run, vm_exec) and records the outcome
 * as "cleanup" in result (when not NULL). */
void vm_delete_after(struct instance *inst, json_t *result);

#endif
