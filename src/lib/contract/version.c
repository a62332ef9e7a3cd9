#include <sys/utsname.h>

#include "base/json.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"

static int version_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    (void)ctx;
    (void)args;
    (void)err;
    *result = json_pack("{s:s, s:s, s:i, s:s}", "name", "pyro", "version", PYRO_VERSION, "agent_protocol", 1,
                        "platform", "linux-x86_64");
    return 0;
}

static const struct contract_param version_params[] = {PARAM_END};

const struct contract_op op_version = {
    .name = "version",
    .cli = "version",
    .title = "pyro version",
    .summary = "Print version information.",
    .description = "Print pyro's version, the agent protocol version it speaks and the platform.",
    .params = version_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"name\",\"version\",\"agent_protocol\",\"platform\"],"
                     "\"properties\":{\"name\":{\"type\":\"string\"},\"version\":{\"type\":\"string\"},"
                     "\"agent_protocol\":{\"type\":\"integer\"},\"platform\":{\"type\":\"string\"}}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .handler = version_run,
};
