/* tools/list and CallToolResult shaping, derived from the contract table. */
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "mcp/mcp.h"

static json_t *tool_annotations(const struct contract_op *op)
{
    unsigned a = op->annotations;
    json_t *o = json_pack("{s:s, s:b}", "title", op->title, "readOnlyHint", (a & PA_READ_ONLY) != 0);
    /* destructiveHint is meaningful only for tools that change something. */
    if (!(a & PA_READ_ONLY))
        json_set(o, "destructiveHint", json_boolean((a & PA_DESTRUCTIVE) != 0));
    json_set(o, "idempotentHint", json_boolean((a & PA_IDEMPOTENT) != 0));
    json_set(o, "openWorldHint", json_boolean((a & PA_OPEN_WORLD) != 0));
    return o;
}

char *mcp_tool_description(const struct contract_op *op, enum contract_surface s)
{
    const char *hint = contract_surfaces[s].is_mode ? mcp_mode_tool_hint(s, op->name) : NULL;
    if (!hint)
        return xstrdup(op->description);
    return xasprintf("%s %s", hint, op->description);
}

json_t *mcp_tools_list(const struct mcp_server *srv)
{
    json_t *tools = json_array();
    for (size_t i = 0; contract_ops[i]; i++) {
        const struct contract_op *op = contract_ops[i];
        if (!contract_op_exposed(op, srv->surface))
            continue;
        _cleanup_free_ char *desc = mcp_tool_description(op, srv->surface);
        json_t *t = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:{s:s}}", "name", op->name, "title", op->title,
                              "description", desc, "inputSchema", contract_input_schema_json(op, srv->surface),
                              "outputSchema", contract_output_schema_json(op), "annotations", tool_annotations(op),
                              "execution", "taskSupport", mcp_tool_task_support(op) ? "optional" : "forbidden");
        json_array_append_new(tools, t);
    }
    return json_pack("{s:o}", "tools", tools);
}

bool mcp_tool_task_support(const struct contract_op *op)
{
    return !strcmp(op->name, "workspace_exec") || !strcmp(op->name, "vm_run");
}

json_t *mcp_tool_error(const char *code_name, const char *message)
{
    json_auto_t *body = json_pack("{s:{s:s, s:s}}", "error", "code", code_name, "message", message);
    _cleanup_free_ char *text = json_dump(body, JSON_COMPACT);
    return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text, "isError", 1);
}

json_t *mcp_tool_result(const json_t *outcome)
{
    const json_t *res = json_object_get(outcome, "result");
    if (json_is_object(res)) {
        _cleanup_free_ char *text = json_dump(res, JSON_COMPACT);
        return json_pack("{s:[{s:s, s:s}], s:O, s:b}", "content", "type", "text", "text", text, "structuredContent",
                         (json_t *)res, "isError", 0);
    }
    const json_t *e = json_object_get(outcome, "error");
    return mcp_tool_error(json_get_str(e, "code", "internal"),
                          json_get_str(e, "message", "the operation failed without a message"));
}
