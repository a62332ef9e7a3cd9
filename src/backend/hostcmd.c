/* Runs ip(8) and nft(8) for the host side of instance networking through
 * the one spawn helper (base/spawn_capture.h): no shell, stdin /dev/null,
 * bounded in time and output, stderr quoted in the error message. */
#include <string.h>

#include "backend/hostcmd.h"
#include "base/cleanup.h"
#include "base/spawn_capture.h"

/* ip and nft answer at once; a hang is a broken host. */
#define CMD_TIMEOUT_MS 30000

const char *hostcmd_find(const char *name)
{
    static const char *const names[] = {"ip", "nft"};
    static char *found[ARRAY_SIZE(names)];
    for (size_t n = 0; n < ARRAY_SIZE(names); n++) {
        if (strcmp(name, names[n]) != 0)
            continue;
        /* On PATH, or where Debian puts them when PATH lacks sbin. */
        static const char *const sbin[] = {"/usr/sbin/", "/sbin/"};
        for (size_t i = 0; !found[n] && i <= ARRAY_SIZE(sbin); i++) {
            _cleanup_free_ char *cand = i ? xasprintf("%s%s", sbin[i - 1], name) : xstrdup(name);
            if (proc_find_program(cand, &found[n], NULL) < 0)
                found[n] = NULL;
        }
        return found[n];
    }
    return NULL;
}

int hostcmd_run(char *const *argv, char **out, pyro_error *err)
{
    return proc_run(argv, CMD_TIMEOUT_MS, out, err);
}
