/* The set-up every command the agent starts shares (an exec's command, a
 * service's leader, a shell): a session of its own, stdin from /dev/null
 * or the given fd, stdout and stderr the given ones, no other descriptor of the agent's, and its
 * working directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"

void childio_setup(const char *cwd, int in_fd, int out_w, int err_w)
{
    (void)setsid(); /* (EPERM when the caller made the session already) */
    int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in >= 0)
        dup2(in, 0);
    else
        close(0);
    dup2(out_w, 1);
    dup2(err_w, 2);
    close_range(3, ~0U, 0);
    if (chdir(cwd) < 0) {
        dprintf(2, "pyro-agent: chdir %s: %s\n", cwd, strerror(errno));
        _exit(126);
    }
}
