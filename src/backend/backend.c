/* backend_get: the one place that knows which backends exist. */
#include "backend/backend.h"

#include <stdio.h>
#include <string.h>

#include "backend/sandbox/sandbox.h"
#include "backend/vm/vm.h"
#include "base/cleanup.h"

static const struct backend_ops *const backends[] = {
    &sandbox_backend_ops,
    &vm_backend_ops,
};

int backend_get(const char *name, const struct backend_ops **out, pyro_error *err)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(backends); i++)
        if (!strcmp(backends[i]->name, name)) {
            *out = backends[i];
            return 0;
        }
    char known[128] = "";
    size_t len = 0;
    for (size_t i = 0; i < ARRAY_SIZE(backends) && len < sizeof(known); i++)
        len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "", backends[i]->name);
    return err_set(err, -PYRO_E_INVALID, "unknown backend '%s' (known: %s)", name ? name : "(none)", known);
}
