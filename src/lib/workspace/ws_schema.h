/* Result schemas shared by the workspace operations. */
#ifndef PYRO_WS_SCHEMA_H
#define PYRO_WS_SCHEMA_H

#include "lib/vm/vm.h"

#define WS_STR "{\"type\":\"string\"}"
#define WS_INT "{\"type\":\"integer\"}"
#define WS_BOOL "{\"type\":\"boolean\"}"
#define WS_OBJ "{\"type\":\"object\"}"
#define WS_ARR_OBJ "{\"type\":\"array\",\"items\":{\"type\":\"object\"}}"
#define WS_STR_OR_NULL "{\"type\":[\"string\",\"null\"]}"
/* Published ports of services: [{service_name, guest_port, host_port, host, protocol}]. */
#define WS_PORTS                                                                                                      \
    "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"service_name\",\"guest_port\",\"host_port\"," \
    "\"host\",\"protocol\"],\"properties\":{\"service_name\":{\"type\":\"string\"},\"guest_port\":{\"type\":"         \
    "\"integer\"},"                                                                                                   \
    "\"host_port\":{\"type\":\"integer\"},\"host\":{\"type\":\"string\"},\"protocol\":{\"type\":\"string\"}}}}"

#define WS_RECORD_PROPS                                                                                             \
    "\"workspace_id\":" WS_STR ",\"name\":" WS_STR_OR_NULL ",\"labels\":{\"type\":\"object\"},"                     \
    "\"state\":{\"type\":\"string\",\"enum\":[\"started\",\"stopped\",\"created\",\"expired\",\"exited\","          \
    "\"failed\",\"creating\",\"deleting\"]},"                                                                       \
    "\"environment\":" WS_STR ",\"environment_version\":" WS_STR ",\"vcpu_count\":" WS_INT ",\"mem_mib\":" WS_INT   \
    ",\"ttl_seconds\":" WS_INT ",\"allow_host_compat\":" WS_BOOL ",\"network_policy\":" WS_STR                      \
    ",\"allow_hosts\":{\"type\":\"array\",\"items\":" WS_STR "}" INSTANCE_ISOLATION_PROPS ",\"created_at\":" WS_STR \
    ",\"expires_at\":" WS_STR ",\"started_at\":" WS_STR ",\"stopped_at\":" WS_STR ",\"last_activity_at\":" WS_STR   \
    ",\"workspace_path\":" WS_STR ",\"workspace_seed\":" WS_OBJ ",\"command_count\":" WS_INT                        \
    ",\"snapshot_count\":" WS_INT ",\"reset_count\":" WS_INT ",\"last_reset_at\":" WS_STR_OR_NULL                   \
    ",\"last_command\":" WS_OBJ ",\"reason\":" WS_STR ",\"pending_operation\":" WS_STR ",\"service_count\":" WS_INT \
    ",\"running_service_count\":" WS_INT ",\"stopped_services\":" WS_ARR_OBJ ",\"backend_fallback\":" WS_STR        \
    ",\"closed_shells\":" WS_INT ",\"published_ports\":" WS_PORTS ",\"secrets\":" WS_ARR_OBJ
#define WS_RECORD_REQUIRED                                                                          \
    "\"workspace_id\",\"name\",\"labels\",\"state\",\"environment\",\"created_at\",\"expires_at\"," \
    "\"last_activity_at\",\"workspace_seed\",\"command_count\",\"snapshot_count\",\"reset_count\"," \
    "\"last_reset_at\",\"execution_mode\""
#define WS_RECORD_SCHEMA \
    "{\"type\":\"object\",\"required\":[" WS_RECORD_REQUIRED "],\"properties\":{" WS_RECORD_PROPS "}}"

/* workspace_exec's result: the workspace's keys around the agent's, whose
 * part is derived from their one declaration (lib/vm/vm.h). */
#define WS_EXEC_SCHEMA                                                                                                 \
    "{\"type\":\"object\",\"required\":[\"workspace_id\",\"sequence\",\"command\"" VM_EXEC_RESULT_REQUIRED             \
    ",\"execution_mode\"],\"properties\":{\"workspace_id\":" WS_STR ",\"environment\":" WS_STR ",\"sequence\":" WS_INT \
    ",\"command\":" WS_STR ",\"cwd\":" WS_STR VM_EXEC_RESULT_PROPS ",\"started_at\":" WS_STR                           \
    ",\"finished_at\":" WS_STR INSTANCE_ISOLATION_PROPS "}}"

#define WS_FULL EXPOSE(SURFACE_WORKSPACE_FULL)
#define WS_CORE EXPOSE(SURFACE_WORKSPACE_CORE)
#define WS_REPRO EXPOSE(SURFACE_MODE_REPRO_FIX)
#define WS_INSPECT EXPOSE(SURFACE_MODE_INSPECT)
#define WS_COLD EXPOSE(SURFACE_MODE_COLD_START)
#define WS_REVIEW EXPOSE(SURFACE_MODE_REVIEW_EVAL)

#endif
