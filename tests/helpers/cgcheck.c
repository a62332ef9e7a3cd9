#include "cgcheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cgroups.h"
#include "base/probe.h"

void cg_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    exit(1);
}

const char *cg_first_line(const char *dir, const char *name)
{
    static char buf[512];
    char path[CGROUPS_PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (probe_read_file(path, buf, sizeof(buf)) < 0)
        return "(unreadable)";
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

void cg_expect_file(const char *label, const char *dir, const char *name, const char *want)
{
    const char *got = cg_first_line(dir, name);
    if (strcmp(got, want))
        cg_fail("%s/%s is '%s', not '%s'", dir, name, got, want);
    printf("ok %s%s = %s\n", label, name, want);
}
