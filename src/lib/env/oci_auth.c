/* Registry credentials from the files podman, skopeo and docker write:
 * {"auths": {"<registry>": {"auth": "<base64 user:password>"}}}. The
 * first file that names the registry wins (order in oci.h). Credential
 * helpers (credsStore) are not run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/record.h"
#include "lib/env/oci.h"

static char *lookup_in(const char *path, const char *registry)
{
    json_auto_t *j = NULL;
    pyro_error e = {0};
    if (!path || record_load(path, &j, &e) < 0)
        return NULL;
    json_t *auths = json_object_get(j, "auths");
    const char *names[3] = {registry, NULL, NULL};
    char withscheme[300];
    if (!strcmp(registry, OCI_DEFAULT_REGISTRY)) {
        names[1] = "https://index.docker.io/v1/";
        names[2] = "index.docker.io";
    } else {
        snprintf(withscheme, sizeof(withscheme), "https://%s", registry);
        names[1] = withscheme;
    }
    for (int i = 0; i < 3 && names[i]; i++) {
        const char *a = json_get_str(json_object_get(auths, names[i]), "auth", NULL);
        if (a && *a && strlen(a) < 4096 && !strpbrk(a, "\r\n "))
            return xstrdup(a);
    }
    return NULL;
}

char *oci_auth_lookup(const char *registry)
{
    const char *env;
    char *found = NULL;
    if ((env = getenv("REGISTRY_AUTH_FILE")) && *env && (found = lookup_in(env, registry)))
        return found;
    if ((env = getenv("XDG_RUNTIME_DIR")) && *env) {
        _cleanup_free_ char *p = xasprintf("%s/containers/auth.json", env);
        if ((found = lookup_in(p, registry)))
            return found;
    }
    const char *home = getenv("HOME");
    if (home && *home) {
        _cleanup_free_ char *p = xasprintf("%s/.config/containers/auth.json", home);
        if ((found = lookup_in(p, registry)))
            return found;
    }
    if ((env = getenv("DOCKER_CONFIG")) && *env) {
        _cleanup_free_ char *p = xasprintf("%s/config.json", env);
        if ((found = lookup_in(p, registry)))
            return found;
    }
    if (home && *home) {
        _cleanup_free_ char *p = xasprintf("%s/.docker/config.json", home);
        if ((found = lookup_in(p, registry)))
            return found;
    }
    return NULL;
}
