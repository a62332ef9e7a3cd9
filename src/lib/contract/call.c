/* The C API's dispatch by operation name: pyro_call and the schemas of an
 * operation, over the contract table. */
#include <string.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/json.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"

int pyro_call(pyro_ctx *ctx, const char *opname, const char *args_json, char **result_json, pyro_error *err)
{
    const struct contract_op *op = contract_op_find(opname);
    if (!op)
        return err_set(err, -PYRO_E_NOT_FOUND, "unknown operation '%s'", opname ? opname : "(null)");
    json_auto_t *args = NULL;
    if (args_json) {
        int r = json_parse(args_json, strlen(args_json), &args, err);
        if (r < 0)
            return err_prefix(err, "%s: arguments", op->name);
    }
    json_auto_t *valid = NULL;
    int r = contract_args_validate(op, args, SURFACE_ALL, &valid, err);
    if (r < 0)
        return r;
    json_auto_t *result = NULL;
    r = op->handler(ctx, valid, &result, err);
    ctx_redact_outcome(ctx, &result, err);
    if (r < 0)
        return r;
    *result_json = json_dump(result, 0);
    return 0;
}

static int schema_text(const char *opname, bool input, char **out, pyro_error *err)
{
    const struct contract_op *op = contract_op_find(opname);
    if (!op)
        return err_set(err, -PYRO_E_NOT_FOUND, "unknown operation '%s'", opname ? opname : "(null)");
    json_auto_t *s = input ? contract_input_schema_json(op, SURFACE_ALL) : contract_output_schema_json(op);
    *out = json_dump(s, 0);
    return 0;
}

int pyro_op_input_schema(const char *op, char **schema_json, pyro_error *err)
{
    return schema_text(op, true, schema_json, err);
}

int pyro_op_output_schema(const char *op, char **schema_json, pyro_error *err)
{
    return schema_text(op, false, schema_json, err);
}
