/* VM operations shared by vm_* and run. */
#ifndef PYRO_VM_H
#define PYRO_VM_H

#include <jansson.h>

#include "base/err.h"
#include "lib/contract/ctx.h"
#include "lib/vm/instance.h"
#include "proto/exec.h"

/* The keys of an exec result that come from the agent, as JSON Schema
 * "properties" members and "required" names, each with a leading comma:
 * derived from their one declaration, PROTO_EXEC_RESULT_FIELDS (PUBLIC
 * keys; required unless sent only when non-zero). Used by the output
 * schemas of vm_exec, vm_run and workspace_exec (lib/workspace/ws_schema.h). */
#define VM_SCHEMA_INT "{\"type\":\"integer\"}"
#define VM_SCHEMA_BOOL "{\"type\":\"boolean\"}"
#define VM_SCHEMA_TEXT "{\"type\":\"string\"}"
#define VM_EXEC_PROP_PUBLIC(key, kind) ",\"" key "\":" VM_SCHEMA_##kind
#define VM_EXEC_PROP_WIRE(key, kind)
#define VM_EXEC_PROP(key, kind, presence, scope, member, min, max) VM_EXEC_PROP_##scope(key, kind)
#define VM_EXEC_REQ_PUBLIC_ALWAYS(key) ",\"" key "\""
#define VM_EXEC_REQ_PUBLIC_NONZERO(key)
#define VM_EXEC_REQ_WIRE_ALWAYS(key)
#define VM_EXEC_REQ_WIRE_NONZERO(key)
#define VM_EXEC_REQ(key, kind, presence, scope, member, min, max) VM_EXEC_REQ_##scope##_##presence(key)
#define VM_EXEC_RESULT_PROPS PROTO_EXEC_RESULT_FIELDS(VM_EXEC_PROP)
#define VM_EXEC_RESULT_REQUIRED PROTO_EXEC_RESULT_FIELDS(VM_EXEC_REQ)

/* Result of running one command (vm_exec, vm_run): the VM's keys around
 * the agent's. */
#define VM_EXEC_PROPS                                                                                   \
    "\"vm_id\":{\"type\":\"string\"},\"environment\":{\"type\":\"string\"},\"command\":{\"type\":"      \
    "\"string\"}" VM_EXEC_RESULT_PROPS ",\"started_at\":{\"type\":\"string\"}" INSTANCE_ISOLATION_PROPS \
    ",\"cleanup\":{\"type\":\"object\"}"
#define VM_EXEC_REQUIRED \
    "\"vm_id\",\"environment\",\"command\"" VM_EXEC_RESULT_REQUIRED ",\"started_at\",\"execution_mode\""
#define VM_EXEC_SCHEMA "{\"type\":\"object\",\"required\":[" VM_EXEC_REQUIRED "],\"properties\":{" VM_EXEC_PROPS "}}"

int vm_record_new(struct pyro_ctx *ctx, json_t *args, struct instance *out, pyro_error *err);
int vm_open(struct pyro_ctx *ctx, const char *id, struct instance *out, pyro_error *err);
/* Runs command with /bin/sh -c in cwd through the instance's monitor and
 * agent, capturing up to PROTO_EXEC_CAPTURE_MAX bytes per stream, and
 * unpacks the agent's reply into out (proto_exec_result_clear): a reply
 * that is not a well-formed exec result is an error. Errors say when the
 * sandbox expired or stopped meanwhile. A pulled image's Env is the
 * command's environment below the caller's; cwd NULL is its WorkingDir,
 * else "/" (env_image_defaults). */
int instance_exec(struct instance *inst, const char *command, const char *cwd, int timeout_seconds,
                  struct proto_exec_result *out, pyro_error *err);
/* The same with env merged over the agent's defaults for this command. */
int instance_exec_env(struct instance *inst, const char *command, const char *cwd, int timeout_seconds,
                      const struct proto_exec_env *env, size_t env_count, struct proto_exec_result *out,
                      pyro_error *err);
/* Runs command through the instance's monitor and agent; the result has
 * the VM_EXEC keys (without cleanup). inst is locked on entry; the lock is
 * released while the command runs and taken again (instance_relock), so on
 * return it is held unless the VM was deleted meanwhile. */
int vm_exec_command(struct pyro_ctx *ctx, struct instance *inst, const char *command, int timeout_seconds,
                    json_t **result, pyro_error *err);

/* Deletes the VM after its command (run, vm_exec) and records the outcome
 * as "cleanup" in result (when not NULL); nothing when the lock is not
 * held (someone else deleted it meanwhile). */
void vm_delete_after(struct instance *inst, json_t *result);

#endif
