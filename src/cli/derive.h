/* CLI parsing and --help, derived from the contract table (derive.c). */
#ifndef PYRO_CLI_DERIVE_H
#define PYRO_CLI_DERIVE_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "lib/contract/contract.h"

struct cli_opts {
    bool json;
    bool id_only;
    bool quiet; /* no progress on stderr */
    bool help;
};

/* Finds the operation named by argv (e.g. {"vm","create",...}); *consumed
 * gets how many words named it. Returns NULL when none; *group then names a
 * matching group, if any (for group help). */
const struct contract_op *cli_find(int argc, char **argv, int *consumed, const struct contract_group **group);
/* Parses the words after the command path into validated arguments. */
int cli_parse(const struct contract_op *op, int argc, char **argv, json_t **args, struct cli_opts *opts,
              pyro_error *err);
/* A parameter's CLI flag without "--" (its name with '-' for '_'). */
void cli_flag_name(const struct contract_param *p, char *buf, size_t size);
void cli_help_op(const struct contract_op *op, FILE *out);
void cli_help_group(const struct contract_group *g, FILE *out);
void cli_help_top(FILE *out);
#endif
