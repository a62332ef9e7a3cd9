/* Workspace secrets (docs/workspaces.md "Secrets"): defined at create only,
 * from literals or host files; the record keeps {name, source_kind}, the
 * values live in <dir>/secrets.json (0600) and, in the guest, in
 * /run/pyro-secrets/<NAME> (root-only), written through the agent after
 * every start and reset. secret_env exports chosen ones to one process.
 * Every output of an operation on the workspace is redacted with them
 * (base/redact.h). */
#ifndef PYRO_WS_SECRETS_H
#define PYRO_WS_SECRETS_H

#include <jansson.h>

#include "base/err.h"
#include "base/redact.h"
#include "lib/contract/contract.h"
#include "lib/vm/instance.h"

#define WS_SECRETS_GUEST_DIR "/run/pyro-secrets"
#define WS_SECRETS_STORE "secrets.json"
#define WS_SECRET_NAME_MAX 64

/* workspace_create's secret parameters. */
#define WS_SECRETS_PARAMS                                                                                         \
    PARAM_LIST("secrets",                                                                                         \
               "Secrets of the workspace, defined once: objects {name, value} or {name, file_path} (a host file " \
               "read now, confined to the allowed host paths). Names are environment variable names; values are " \
               "UTF-8, 8 to 4096 bytes. Values are redacted from every output.",                                  \
               .flags = PF_FULL_ONLY | PF_OBJECTS),                                                               \
        PARAM_MAP("secret", "A secret NAME=VALUE.", .flags = PF_CLI_ONLY, .metavar = "NAME=VALUE"),               \
        PARAM_MAP("secret_file",                                                                                  \
                  "A secret NAME=PATH read from a host file now (UTF-8; one final newline is dropped).",          \
                  .flags = PF_CLI_ONLY, .metavar = "NAME=PATH")
/* secret_env of exec, shell_open and service_start. */
#define WS_SECRET_ENV_PARAM                                                                                \
    PARAM_MAP("secret_env",                                                                                \
              "Secrets exported to this process only, as SECRET_NAME -> ENV_VAR (on the CLI SECRET alone " \
              "keeps its name).",                                                                          \
              .flags = PF_FULL_ONLY | PF_MAP_BARE, .metavar = "SECRET[=ENV_VAR]")

/* Reads and checks the secrets of workspace_create's arguments before
 * anything is created: *store gets [{name, source_kind, value}] (NULL when
 * there are none). */
int ws_secrets_prepare(struct pyro_ctx *ctx, const json_t *args, json_t **store, pyro_error *err);
/* [{name, source_kind}] of a store. */
json_t *ws_secrets_meta(const json_t *store);
/* Writes the store beside the record (mode 0600). */
int ws_secrets_save(const struct instance *inst, const json_t *store, pyro_error *err);
/* Writes the guest's /run/pyro-secrets from the store (nothing without
 * secrets); the workspace runs. */
int ws_secrets_materialize(const struct instance *inst, pyro_error *err);
/* The redactor of the workspace's values; NULL without secrets. */
struct redact *ws_secrets_redactor(const struct instance *inst);
/* The redactor of a store's values (ws_secrets_prepare); NULL when empty. */
struct redact *ws_secrets_redactor_of(const json_t *store);
/* The environment (object ENV_VAR -> value) that secret_env asks for;
 * NULL when it asks for nothing. Unknown secrets and bad variable names
 * are refused. */
int ws_secrets_env(const struct instance *inst, const json_t *secret_env, json_t **env, pyro_error *err);

#endif
