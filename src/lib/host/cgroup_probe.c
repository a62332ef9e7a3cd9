#include "lib/host/cgroup_probe.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/probe.h"

#define MOUNTINFO_MAX_LINES 8192

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

/* Mount points in mountinfo escape space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* True when name is one of the comma-separated words of list. */
static bool list_has(const char *list, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = list; p;) {
        if (!strncmp(p, name, nl) && (p[nl] == ',' || p[nl] == '\0'))
            return true;
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return false;
}

/* Splits one mountinfo line into mount point, fs type and super options. */
static bool mountinfo_parse(char *line, char **mnt, char **fstype, char **superopts)
{
    char *sep = strstr(line, " - ");
    if (!sep)
        return false;
    *sep = '\0';
    char *save = NULL;
    char *f = strtok_r(line, " ", &save);
    for (int i = 0; f && i < 4; i++)
        f = strtok_r(NULL, " ", &save); /* skip parent, dev, root: land on the mount point */
    if (!f)
        return false;
    *mnt = f;
    save = NULL;
    *fstype = strtok_r(sep + 3, " \n", &save);
    char *source = strtok_r(NULL, " \n", &save);
    *superopts = strtok_r(NULL, " \n", &save);
    if (!*fstype || !source || !*superopts)
        return false;
    unescape_octal(*mnt);
    return true;
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
    bool have_v1 = false;
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        for (int n = 0; n < MOUNTINFO_MAX_LINES && getline(&line, &cap, f) > 0; n++) {
            char *mnt, *fstype, *superopts;
            if (!mountinfo_parse(line, &mnt, &fstype, &superopts))
                continue;
            if (!strcmp(fstype, "cgroup2")) {
                /* Prefer the canonical place when cgroup2 is mounted twice. */
                if (!p->v2_mount[0] || !strcmp(mnt, "/sys/fs/cgroup"))
                    snprintf(p->v2_mount, sizeof(p->v2_mount), "%s", mnt);
            } else if (!strcmp(fstype, "cgroup")) {
                have_v1 = true;
                for (int i = 0; i < CGROUP_CTL_COUNT; i++)
                    if (!p->ctl[i].version && list_has(superopts, ctl_names[i]))
                        ctl_bind(&p->ctl[i], 1, mnt);
            }
        }
    }
    if (p->v2_mount[0]) {
        _cleanup_free_ char *path = xasprintf("%s/cgroup.controllers", p->v2_mount);
        char buf[1024];
        if (probe_read_file(path, buf, sizeof(buf)) >= 0)
            for (int i = 0; i < CGROUP_CTL_COUNT; i++) {
                char *save = NULL;
                _cleanup_free_ char *copy = xstrdup(buf);
                for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
                    if (!p->ctl[i].version && !strcmp(w, ctl_names[i]))
                        ctl_bind(&p->ctl[i], 2, p->v2_mount);
            }
    }
    if (have_v1 && p->v2_mount[0])
        p->layout = CGROUP_HYBRID;
    else if (have_v1)
        p->layout = CGROUP_V1;
    else if (p->v2_mount[0])
        p->layout = CGROUP_V2;
}
