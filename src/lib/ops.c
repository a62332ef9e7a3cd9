/* The contract table: every operation pyro offers, in CLI listing order.
 * Each operation is defined next to its handler (op_<name> in its module);
 * this file only lists them. */
#include "contract.h"

extern const struct pyro_op op_version;
extern const struct pyro_op op_vm_list_environments;
extern const struct pyro_op op_env_pull;
extern const struct pyro_op op_env_inspect;
extern const struct pyro_op op_env_prune;


const struct pyro_op *const pyro_ops[] = {
    /* host */

    &op_version,
    /* environments */
    &op_vm_list_environments,
    &op_env_pull,
    &op_env_inspect,
    &op_env_prune,
    /* vm lifecycle */
    /* workspaces */
    NULL,
};

const struct pyro_group pyro_groups[] = {
    {"env", "Inspect and manage curated environments."},
    {"vm", "Manage ephemeral VMs (create, start, exec, stop, delete)."},
    {"workspace", "Manage persistent workspaces."},
    {"mcp", "Run the MCP server."},
    {NULL, NULL},
};
