#include "lib/host/cgroup_probe.h"

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

unsigned cgroup_ctl_bit(int i)
{
    static const unsigned bits[CGROUP_CTL_COUNT] = {CGROUPS_MEMORY, CGROUPS_PIDS, CGROUPS_CPU};
    return i >= 0 && i < CGROUP_CTL_COUNT ? bits[i] : 0;
}

void cgroup_delegation_probe(const struct cgroup_probe *p, bool root, struct cgroups_user *u)
{
    if (!root) {
        cgroups_user_probe(u);
        return;
    }
    memset(u, 0, sizeof(*u));
    char f[300], text[512];
    snprintf(f, sizeof(f), "%s/cgroup.controllers", p->v2_mount);
    if (p->v2_mount[0] && probe_read_file(f, text, sizeof(text)) >= 0)
        u->ctl = cgroups_ctl_parse(text);
}
