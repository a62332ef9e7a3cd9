/* Protocol revisions (docs/mcp.md "Protocol revisions"): the legacy
 * handshake era (2025-11-25 and earlier: initialize, sessions) and the
 * modern stateless one (2026-07-28: every request names its version and
 * capabilities in params._meta; server/discover; resultType on every
 * result). server.c serves both on one endpoint; this file holds what
 * they share and what the modern era adds: pure shaping, no state. */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "mcp/mcp.h"

#define META_VERSION "io.modelcontextprotocol/protocolVersion"
#define META_CAPS "io.modelcontextprotocol/clientCapabilities"
#define META_LOG "io.modelcontextprotocol/logLevel"
#define META_SERVER "io.modelcontextprotocol/serverInfo"

const char *const mcp_legacy_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", NULL};
const char *const mcp_modern_versions[] = {MCP_MODERN_VERSION, NULL};

json_t *mcp_server_info(void)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "name", "pyro", "title", "Pyro", "version", PYRO_VERSION, "description",
                     "Disposable isolated Linux sandboxes for coding agents: one-shot commands and persistent "
                     "workspaces.");
}

json_t *mcp_server_capabilities(bool modern)
{
    if (modern) /* logging is deprecated in 2026-07-28; tasks are an extension */
        return json_pack("{s:{s:b}, s:{s:{}}}", "tools", "listChanged", 0, "extensions", MCP_TASKS_EXTENSION);
    /* 2025-11-25 tasks (experimental): task-augmented tools/call, with
     * tasks/list and tasks/cancel. */
    return json_pack("{s:{}, s:{s:b}, s:{s:{}, s:{}, s:{s:{s:{}}}}}", "logging", "tools", "listChanged", 0, "tasks",
                     "list", "cancel", "requests", "tools", "call");
}

static json_t *supported_versions(void)
{
    json_t *a = json_array();
    for (int i = 0; mcp_modern_versions[i]; i++)
        json_array_append_new(a, json_string(mcp_modern_versions[i]));
    for (int i = 0; mcp_legacy_versions[i]; i++)
        json_array_append_new(a, json_string(mcp_legacy_versions[i]));
    return a;
}

const char *mcp_era_version(const json_t *params)
{
    return json_get_str(json_object_get(params, "_meta"), META_VERSION, NULL);
}

json_t *mcp_era_check(const json_t *id, const json_t *params)
{
    const json_t *meta = json_object_get(params, "_meta");
    const char *v = json_get_str(meta, META_VERSION, "");
    for (int i = 0; mcp_modern_versions[i]; i++)
        if (!strcmp(v, mcp_modern_versions[i])) {
            const json_t *caps = json_object_get(meta, META_CAPS);
            if (caps && !json_is_object(caps))
                return mcp_error_response(id, -32602, "_meta." META_CAPS " must be an object", NULL);
            return NULL;
        }
    json_t *data = json_pack("{s:o, s:s}", "supported", supported_versions(), "requested", v);
    return mcp_error_response(id, MCP_E_UNSUPPORTED_VERSION, "Unsupported protocol version", data);
}

bool mcp_era_client_has_tasks(const json_t *params)
{
    const json_t *caps = json_object_get(json_object_get(params, "_meta"), META_CAPS);
    return json_is_object(json_object_get(json_object_get(caps, "extensions"), MCP_TASKS_EXTENSION));
}

int mcp_era_log_level(const json_t *params)
{
    const char *lv = json_get_str(json_object_get(params, "_meta"), META_LOG, NULL);
    int i = mcp_log_level_find(lv);
    return i < 0 ? MCP_LOG_NONE : i; /* no logLevel: no notifications/message */
}

json_t *mcp_era_discover(const struct mcp_server *srv)
{
    json_t *res = json_pack("{s:s, s:o, s:o, s:i, s:s}", "resultType", "complete", "supportedVersions",
                            supported_versions(), "capabilities", mcp_server_capabilities(true), "ttlMs",
                            MCP_CACHE_TTL_MS, "cacheScope", "private");
    if (srv->instructions)
        json_set(res, "instructions", json_string(srv->instructions));
    return res;
}

void mcp_era_cacheable(json_t *result)
{
    json_set(result, "ttlMs", json_integer(MCP_CACHE_TTL_MS));
    /* private: what a server lists depends on its profile and mode, and
     * it sits behind a bearer token on HTTP. */
    json_set(result, "cacheScope", json_string("private"));
}

void mcp_era_stamp(json_t *resp)
{
    json_t *res = json_object_get(resp, "result");
    if (!json_is_object(res))
        return;
    if (!json_object_get(res, "resultType"))
        json_set(res, "resultType", json_string("complete"));
    json_t *meta = json_object_get(res, "_meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_set(res, "_meta", meta);
    }
    json_set(meta, META_SERVER, mcp_server_info());
}
