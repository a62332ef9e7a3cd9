/* The image config of a pulled OCI environment, as the defaults of the
 * commands run in it (docs/environments.md "Image config"): its Env below
 * the caller's variables, its WorkingDir as the cwd of `pyro run`. The
 * config came from a registry: only well-formed entries are used. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/record.h"
#include "lib/env/env.h"

#define IMAGE_ENV_MAX 256
#define IMAGE_ENV_VALUE_MAX (32 * 1024)

static bool env_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 255 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* Whether path (absolute) is a directory of rootfs, resolved inside it. */
static bool dir_in_root(const char *rootfs, const char *path)
{
    _cleanup_close_ int dfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || path[0] != '/' || strlen(path) >= 4096)
        return false;
    struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, dfd, path, &how, sizeof(how));
    if (fd < 0)
        return false;
    close((int)fd);
    return true;
}

void env_image_defaults(const char *rootfs, struct env_image_defaults *out)
{
    out->env = json_object();
    out->workdir[0] = '\0';
    const char *slash = strrchr(rootfs, '/');
    if (!slash || strcmp(slash + 1, ENV_ROOTFS_NAME))
        return;
    _cleanup_free_ char *dir = strndup(rootfs, (size_t)(slash - rootfs));
    _cleanup_close_ int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    json_auto_t *m = NULL;
    pyro_error e = {0};
    if (dfd < 0 || record_load_at(dfd, ENV_MANIFEST_NAME, &m, &e) < 0)
        return; /* env_ensure checked the install; nothing to apply */
    const json_t *cfg = json_object_get(json_object_get(m, "oci"), "config");
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(cfg, "env"), i, v) {
        const char *s = json_string_value(v);
        const char *eq = s ? strchr(s, '=') : NULL;
        if (i >= IMAGE_ENV_MAX || !eq || !env_name_ok(s, (size_t)(eq - s)) || strlen(eq + 1) > IMAGE_ENV_VALUE_MAX)
            continue;
        _cleanup_free_ char *name = strndup(s, (size_t)(eq - s));
        json_t *js = json_string(eq + 1);
        if (name && js)
            json_set(out->env, name, js);
        else
            json_decref(js);
    }
    const char *wd = json_get_str(cfg, "working_dir", NULL);
    if (wd && dir_in_root(rootfs, wd))
        snprintf(out->workdir, sizeof(out->workdir), "%s", wd);
}
