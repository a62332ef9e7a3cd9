#include "lib/host/qemu_probe.h"
#include "base/spawn_capture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/timeutil.h"

int qemu_find(char **out, pyro_error *err)
{
    return proc_find_program(QEMU_BINARY, out, err);
}

static int qemu_query(const char *qemu, const char *a1, const char *a2, char **out, pyro_error *err)
{
    char *argv[] = {(char *)qemu, (char *)a1, (char *)a2, NULL};
    bool truncated;
    int status;
    int r = proc_capture(argv, QEMU_QUERY_TIMEOUT_MS, QEMU_QUERY_MAX_OUTPUT, out, &truncated, &status, err);
    if (r < 0)
        return err_prefix(err, "%s %s%s%s", qemu, a1, a2 ? " " : "", a2 ? a2 : "");
    if (status != 0) {
        _cleanup_free_ char *text = *out;
        *out = NULL;
        char *nl = strchr(text, '\n');
        if (nl)
            *nl = '\0';
        return err_set(err, -EIO, "%s %s%s%s exited with status %d: %.160s", qemu, a1, a2 ? " " : "", a2 ? a2 : "",
                       status, text);
    }
    return 0;
}

/* True when some line of text starts with word followed by a blank. */
static bool has_line_word(const char *text, const char *word)
{
    size_t wl = strlen(word);
    for (const char *line = text; line;) {
        if (!strncmp(line, word, wl) && (line[wl] == ' ' || line[wl] == '\t' || line[wl] == '\n' || !line[wl]))
            return true;
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    return false;
}

int qemu_probe(struct qemu_info *q, pyro_error *err)
{
    memset(q, 0, sizeof(*q));
    int r = qemu_find(&q->path, err);
    if (r < 0)
        return r;

    _cleanup_free_ char *ver = NULL;
    r = qemu_query(q->path, "--version", NULL, &ver, err);
    if (r < 0)
        return r;
    size_t n = strcspn(ver, "\n");
    snprintf(q->version_line, sizeof(q->version_line), "%.*s", (int)n, ver);
    const char *v = strstr(q->version_line, "version ");
    if (v)
        snprintf(q->version, sizeof(q->version), "%.*s", (int)strcspn(v + 8, " \t("), v + 8);

    _cleanup_free_ char *machines = NULL;
    r = qemu_query(q->path, "-machine", "help", &machines, err);
    if (r < 0)
        return r;
    q->microvm = has_line_word(machines, "microvm");

    _cleanup_free_ char *accels = NULL;
    r = qemu_query(q->path, "-accel", "help", &accels, err);
    if (r < 0)
        return r;
    q->accel_kvm = has_line_word(accels, "kvm");
    q->accel_tcg = has_line_word(accels, "tcg");
    log_debug("qemu %s: version %s microvm=%d kvm=%d tcg=%d", q->path, q->version, q->microvm, q->accel_kvm,
              q->accel_tcg);
    return 0;
}

void qemu_info_clear(struct qemu_info *q)
{
    free(q->path);
    q->path = NULL;
}
