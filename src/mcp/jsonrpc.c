/* JSON-RPC 2.0 response envelopes and the log level names (mcp.h): the
 * leaf every part of the server builds its responses with. */
#include <string.h>

#include "base/json.h"
#include "mcp/mcp.h"

const char *const mcp_log_levels[] = {"debug",    "info",  "notice",    "warning", "error",
                                      "critical", "alert", "emergency", NULL};

int mcp_log_level_find(const char *name)
{
    for (int i = 0; name && mcp_log_levels[i]; i++)
        if (!strcmp(mcp_log_levels[i], name))
            return i;
    return -1;
}

json_t *mcp_error_response(const json_t *id, int code, const char *message, json_t *data)
{
    json_t *e = json_pack("{s:i, s:s}", "code", code, "message", message);
    if (data)
        json_set(e, "data", data);
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? (json_t *)id : json_null(), "error", e);
}

json_t *mcp_result_response(const json_t *id, json_t *result)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", (json_t *)id, "result", result);
}
