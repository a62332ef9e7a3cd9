/* host_agent_path: the sandbox backend runs the agent as PID 1 and the VM
 * backend packs it into the initramfs; both find it here. */
#include "lib/host/agent_path.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/cleanup.h"

int host_agent_path(char **out, pyro_error *err)
{
    const char *env = getenv("PYRO_AGENT");
    if (env && env[0]) {
        if (access(env, X_OK) < 0)
            return err_errno(err, errno, "PYRO_AGENT=%s", env);
        *out = xstrdup(env);
        return 0;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        const char *dir = dirname(self);
        char *p = xasprintf("%s/pyro-agent", dir);
        if (access(p, X_OK) == 0) {
            *out = p;
            return 0;
        }
        free(p);
        /* An install moved to another prefix (cmake --install --prefix,
         * the Debian package): <prefix>/bin/pyro, <prefix>/libexec/pyro. */
        p = xasprintf("%s/../libexec/pyro/pyro-agent", dir);
        if (access(p, X_OK) == 0) {
            *out = p;
            return 0;
        }
        free(p);
    }
    char *p = xasprintf("%s/pyro-agent", PYRO_LIBEXECDIR);
    if (access(p, X_OK) == 0) {
        *out = p;
        return 0;
    }
    free(p);
    return err_set(err, -PYRO_E_UNSUPPORTED, "pyro-agent not found next to the pyro binary nor in %s; set PYRO_AGENT",
                   PYRO_LIBEXECDIR);
}
