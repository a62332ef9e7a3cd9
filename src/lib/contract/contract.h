/* The contract table (DESIGN.md invariant 3).
 *
 * Every operation is declared once, as a struct contract_op: its name (the MCP
 * tool name and the C API name), its CLI path, typed parameters with
 * defaults, bounds and descriptions, its result schema, MCP annotations,
 * which profiles and modes expose it, and its handler. CLI parsing and
 * --help (contract_cli.c), argument validation and the published JSON
 * Schemas (contract.c), MCP tools/list and C API dispatch all derive from it.
 *
 * Parameters shared by several operations are declared once in params.h. */
#ifndef PYRO_CONTRACT_H
#define PYRO_CONTRACT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "base/err.h"

struct pyro_ctx;

/* PT_PORTS: published ports, an array whose items are objects
 * {"guest_port": 1..65535, "host_port": 1..65535 or null} or strings
 * "[HOST_PORT:]GUEST_PORT" (the CLI's form); validation turns every item
 * into {"guest_port": n, "host_port": n or 0 (any)}. */
enum contract_ptype { PT_STRING, PT_INT, PT_BOOL, PT_MAP, PT_LIST, PT_PORTS };

/* Parameter flags. */
enum {
    PF_REQUIRED = 1u << 0,   /* must be given */
    PF_POSITIONAL = 1u << 1, /* CLI: positional argument, in declaration order */
    PF_REST = 1u << 2,       /* CLI: the words after `--` (or after the positionals) */
    PF_CLI_ONLY = 1u << 3,   /* CLI and C API only, never published to MCP (--text-file) */
    PF_FULL_ONLY = 1u << 4,  /* dropped from narrowed surfaces (workspace-core, modes) */
    PF_OBJECTS = 1u << 5,    /* PT_LIST: items are objects of strings (MCP, C API; no CLI flag) */
    PF_MAP_BARE = 1u << 6,   /* PT_MAP: on the CLI a bare KEY stands for KEY=KEY */
};

struct contract_param {
    const char *name; /* snake_case key in JSON arguments */
    enum contract_ptype type;
    unsigned flags;
    const char *description;
    const char *flag;    /* CLI flag without "--"; default: name with '-' for '_' */
    const char *metavar; /* CLI placeholder; default derived from type */
    bool has_default;
    const char *def_str;
    long long def_int;
    bool def_bool;
    long long min, max;         /* PT_INT bounds; PT_STRING max length (0: 4096); PT_MAP/PT_LIST max items (0: 64) */
    const char *const *choices; /* PT_STRING: allowed values, NULL-terminated */
    /* A PF_REQUIRED parameter may name a PF_CLI_ONLY alternative of the same
     * operation ("text" and "text_file"). Where the alternative is visible
     * (CLI, C API) exactly one of the two must be given; on MCP, where it is
     * not, this parameter is simply required. */
    const char *alt;
};

/* Declaration helpers: PARAM_xxx(name, description, extra designated fields). */
// clang-format off: one line a parameter kind
#define PARAM_STR(n, d, ...)                                            \
    {                                                                   \
        .name = (n), .type = PT_STRING, .description = (d), __VA_ARGS__ \
    }
#define PARAM_INT(n, d, ...)                                         \
    {                                                                \
        .name = (n), .type = PT_INT, .description = (d), __VA_ARGS__ \
    }
#define PARAM_BOOL(n, d, ...)                                                              \
    {                                                                                      \
        .name = (n), .type = PT_BOOL, .description = (d), .has_default = true, __VA_ARGS__ \
    }
#define PARAM_MAP(n, d, ...)                                         \
    {                                                                \
        .name = (n), .type = PT_MAP, .description = (d), __VA_ARGS__ \
    }
#define PARAM_LIST(n, d, ...)                                         \
    {                                                                 \
        .name = (n), .type = PT_LIST, .description = (d), __VA_ARGS__ \
    }
#define PARAM_PORTS(n, d, ...)                                         \
    {                                                                  \
        .name = (n), .type = PT_PORTS, .description = (d), __VA_ARGS__ \
    }
#define PARAM_END    \
    {                \
        .name = NULL \
    }
// clang-format on

/* MCP tool annotations. */
enum {
    PA_READ_ONLY = 1u << 0,
    PA_DESTRUCTIVE = 1u << 1,
    PA_IDEMPOTENT = 1u << 2,
    PA_OPEN_WORLD = 1u << 3,
};

/* Surfaces: the MCP profiles and named modes that expose an operation. */
enum contract_surface {
    SURFACE_VM_RUN = 0,
    SURFACE_WORKSPACE_CORE,
    SURFACE_WORKSPACE_FULL,
    SURFACE_MODE_REPRO_FIX,
    SURFACE_MODE_INSPECT,
    SURFACE_MODE_COLD_START,
    SURFACE_MODE_REVIEW_EVAL,
    SURFACE_COUNT,
    SURFACE_ALL = SURFACE_COUNT, /* the C API and CLI: every parameter */
};
#define EXPOSE(s) (1u << (s))

struct contract_surface_info {
    const char *name; /* "workspace-core", "repro-fix" */
    bool is_mode;
    bool narrowed; /* PF_FULL_ONLY parameters are dropped */
    const char *description;
};
extern const struct contract_surface_info contract_surfaces[SURFACE_COUNT];
/* Looks a profile or mode up by name; -1 when unknown. */
int contract_surface_find(const char *name, bool is_mode);

typedef int (*contract_handler)(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err);

struct contract_op {
    const char *name;                    /* "vm_run": MCP tool and C API name */
    const char *cli;                     /* "run", "vm create"; NULL when not a CLI command */
    const char *title;                   /* MCP title */
    const char *summary;                 /* one line for command listings */
    const char *description;             /* MCP description and --help text */
    const struct contract_param *params; /* ends with PARAM_END */
    const char *output_schema;           /* JSON Schema text of the result object */
    unsigned annotations;                /* PA_* */
    unsigned exposure;                   /* EXPOSE(SURFACE_*) bits; 0: CLI and C API only */
    const char *id_key;                  /* result key printed by --id-only, or NULL */
    contract_handler handler;
};

/* A CLI command group ("vm", "workspace", "env"). */
struct contract_group {
    const char *name;
    const char *summary;
};

/* The table, NULL-terminated (ops.c). */
extern const struct contract_op *const contract_ops[];
extern const struct contract_group contract_groups[];

const struct contract_op *contract_op_find(const char *name);
const struct contract_param *contract_op_param(const struct contract_op *op, const char *name);
bool contract_op_exposed(const struct contract_op *op, enum contract_surface s);

/* Validates args (a JSON object, or NULL for {}) for op as seen on surface s:
 * rejects unknown parameters (naming the ones that exist), wrong types and
 * out-of-range values, checks required ones and fills defaults. *out is a
 * new object holding every known parameter that has a value. */
int contract_args_validate(const struct contract_op *op, const json_t *args, enum contract_surface s, json_t **out,
                           pyro_error *err);

/* JSON Schema of op's input on surface s (additionalProperties false). */
json_t *contract_input_schema_json(const struct contract_op *op, enum contract_surface s);
/* op's output schema, parsed; aborts if the declaration is broken (tested). */
json_t *contract_output_schema_json(const struct contract_op *op);

/* Checks value against the subset of JSON Schema pyro declares (type,
 * properties, required, items, additionalProperties, enum, minimum,
 * maximum). Used by tests and debug builds to hold handlers to their
 * declared result shape. */
int contract_schema_check(const json_t *schema, const json_t *value, pyro_error *err);

#endif
