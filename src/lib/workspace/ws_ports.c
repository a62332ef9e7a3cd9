/* Published ports of workspace services (docs/workspaces.md "Published
 * ports"): the monitor owns the listeners (backend/monitor_ports.c); these
 * are the host library's requests to it. Only a workspace whose policy is
 * egress+published-ports publishes; every port is TCP on the host's
 * 127.0.0.1. */
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/log.h"
#include "lib/vm/instance_call.h"
#include "lib/workspace/workspace.h"

#define PORTS_CALL_MS 10000

int ws_ports_publish(const struct instance *inst, const char *service, const json_t *ports, int64_t pending_ms,
                     int64_t *token, json_t **list, pyro_error *err)
{
    const char *policy = json_get_str(inst->rec, "network_policy", "off");
    if (strcmp(policy, "egress+published-ports"))
        return err_set(err, -PYRO_E_INVALID,
                       "published_ports needs network_policy egress+published-ports (workspace %s has %s)", inst->id,
                       policy);
    /* A same-named service that ended may have left ports (the monitor
     * closes them within a second): they go now. */
    json_auto_t *un = json_pack("{s:s}", "service", service);
    json_t *res = NULL;
    int r = instance_call(inst, "monitor_unpublish", un, PORTS_CALL_MS, &res, err);
    if (r < 0)
        return r;
    json_decref(res);
    json_auto_t *a = json_pack("{s:s, s:O, s:I}", "service", service, "ports", ports, "pending_ms",
                               (json_int_t)pending_ms);
    r = instance_call(inst, "monitor_publish", a, PORTS_CALL_MS, &res, err);
    if (r < 0) {
        /* The monitor answered, not the agent the client names. */
        if (!strncmp(err->message, "agent: ", 7))
            memmove(err->message, err->message + 7, strlen(err->message + 7) + 1);
        return r;
    }
    *token = json_get_int(res, "token", 0);
    *list = json_incref(json_object_get(res, "ports"));
    json_decref(res);
    return 0;
}

static void ports_call(const struct instance *inst, const char *op, json_t *args)
{
    json_t *res = NULL;
    pyro_error e = {0};
    if (instance_call(inst, op, args, PORTS_CALL_MS, &res, &e) < 0)
        log_debug("workspace %s: %s: %s", inst->id, op, e.message);
    json_decref(res);
    json_decref(args);
}

void ws_ports_confirm(const struct instance *inst, int64_t token, int64_t pid)
{
    ports_call(inst, "monitor_confirm", json_pack("{s:I, s:I}", "token", (json_int_t)token, "pid", (json_int_t)pid));
}

void ws_ports_unpublish(const struct instance *inst, int64_t token, const char *service)
{
    if (!instance_monitor_alive(inst))
        return;
    if (service)
        ports_call(inst, "monitor_unpublish", json_pack("{s:s}", "service", service));
    else if (token)
        ports_call(inst, "monitor_unpublish", json_pack("{s:I}", "token", (json_int_t)token));
    else
        ports_call(inst, "monitor_unpublish", json_pack("{s:b}", "all", 1));
}

json_t *ws_ports_list(const struct instance *inst, const char *service)
{
    json_t *out = json_array(), *res = NULL, *e;
    json_auto_t *a = json_object();
    pyro_error err = {0};
    if (!instance_monitor_alive(inst) || instance_call(inst, "monitor_ports", a, PORTS_CALL_MS, &res, &err) < 0)
        return out;
    size_t i;
    json_array_foreach(json_object_get(res, "ports"), i, e)
        if (!service || !strcmp(json_get_str(e, "service_name", ""), service))
            json_array_append(out, e);
    json_decref(res);
    return out;
}
