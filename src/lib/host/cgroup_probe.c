#include "lib/host/cgroup_probe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/mountinfo.h"
#include "base/probe.h"

static const char *const ctl_names[CGROUP_CTL_COUNT] = {"memory", "pids", "cpu"};

const char *cgroup_layout_name(enum cgroup_layout l)
{
    switch (l) {
    case CGROUP_V1: return "v1";
    case CGROUP_V2: return "v2";
    case CGROUP_HYBRID: return "hybrid";
    case CGROUP_NONE:
    default: return "none";
    }
}

bool cgroup_controller_usable(const struct cgroup_controller *c)
{
    return c->version != 0 && c->writable;
}

static void ctl_bind(struct cgroup_controller *c, int version, const char *mnt)
{
    c->version = version;
    snprintf(c->mount, sizeof(c->mount), "%s", mnt);
    c->writable = access(mnt, W_OK) == 0;
}

void cgroup_probe_run(struct cgroup_probe *p)
{
    memset(p, 0, sizeof(*p));
    for (int i = 0; i < CGROUP_CTL_COUNT; i++)
        p->ctl[i].name = ctl_names[i];
    struct mountinfo_cgroups m;
    if (mountinfo_cgroups(MOUNTINFO_PATH, &m, NULL) < 0)
        return;
    if (m.v2)
        snprintf(p->v2_mount, sizeof(p->v2_mount), "%s", m.v2);
    for (int i = 0; i < CGROUP_CTL_COUNT; i++) {
        const char *v1 = mountinfo_cgroup_v1(&m, ctl_names[i]);
        if (v1)
            ctl_bind(&p->ctl[i], 1, v1);
        else if (mountinfo_cgroup_v2_has(&m, ctl_names[i]))
            ctl_bind(&p->ctl[i], 2, m.v2);
    }
    if (m.v1_count && m.v2)
        p->layout = CGROUP_HYBRID;
    else if (m.v1_count)
        p->layout = CGROUP_V1;
    else if (m.v2)
        p->layout = CGROUP_V2;
    mountinfo_cgroups_free(&m);
}

int cgroup_v2_path_parse(const char *text, char *out, size_t size)
{
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "0::", 3))
            continue;
        size_t len = strcspn(l + 3, "\n");
        if (len == 0 || len >= size)
            return -EINVAL;
        snprintf(out, size, "%.*s", (int)len, l + 3);
        return 0;
    }
    return -ENOENT;
}

void cgroup_controllers_parse(const char *text, bool ctl[CGROUP_CTL_COUNT])
{
    for (int i = 0; i < CGROUP_CTL_COUNT; i++) {
        ctl[i] = false;
        size_t wl = strlen(ctl_names[i]);
        for (const char *p = text; (p = strstr(p, ctl_names[i])); p += wl)
            if ((p == text || strchr(" \t\n", p[-1])) && (p[wl] == '\0' || strchr(" \t\n", p[wl])))
                ctl[i] = true;
    }
}

/* dir can take child cgroups and processes from us. */
static bool delegated_to_us(const char *dir)
{
    char f[600];
    snprintf(f, sizeof(f), "%s/cgroup.procs", dir);
    bool procs = access(f, W_OK) == 0;
    snprintf(f, sizeof(f), "%s/cgroup.subtree_control", dir);
    return access(dir, W_OK) == 0 && procs && access(f, W_OK) == 0;
}

static void delegation_read(struct cgroup_delegation *d, const char *dir)
{
    snprintf(d->dir, sizeof(d->dir), "%s", dir);
    d->writable = delegated_to_us(dir);
    char f[600], text[512];
    snprintf(f, sizeof(f), "%s/cgroup.controllers", dir);
    if (probe_read_file(f, text, sizeof(text)) < 0)
        text[0] = '\0';
    cgroup_controllers_parse(text, d->ctl);
}

void cgroup_delegation_probe(const struct cgroup_probe *p, uid_t uid, struct cgroup_delegation *d)
{
    memset(d, 0, sizeof(*d));
    d->v2 = p->v2_mount[0] != '\0';
    if (!d->v2)
        return;
    char text[4096], path[400], dir[512];
    if (uid != 0 && probe_read_file("/proc/self/cgroup", text, sizeof(text)) >= 0 &&
        cgroup_v2_path_parse(text, path, sizeof(path)) == 0) {
        snprintf(dir, sizeof(dir), "%s%s", p->v2_mount, strcmp(path, "/") ? path : "");
        if (delegated_to_us(dir)) {
            delegation_read(d, dir);
            return;
        }
    }
    if (uid != 0) {
        snprintf(dir, sizeof(dir), "%s/user.slice/user-%u.slice/user@%u.service", p->v2_mount, (unsigned)uid,
                 (unsigned)uid);
        if (access(dir, F_OK) == 0) {
            delegation_read(d, dir);
            return;
        }
    }
    delegation_read(d, p->v2_mount);
}
