#include "agent_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"

pid_t agent_fx_spawn(int *host_fd)
{
    const char *dir = getenv("PYRO_TEST_BUILD_DIR");
    if (!dir)
        return -1;
    _cleanup_free_ char *agent = xasprintf("%s/pyro-agent-dyn", dir);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(sv[1], 3);
        execl(agent, agent, "--channel-fd", "3", "--no-init", (char *)NULL);
        _exit(127);
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return -1;
    }
    *host_fd = sv[0];
    return pid;
}

int agent_fx_setup(void **state)
{
    struct fx *fx = xcalloc(1, sizeof(*fx));
    int fd = -1;
    fx->pid = agent_fx_spawn(&fd);
    if (fx->pid < 0) {
        free(fx);
        return -1;
    }
    pyro_error err = {0};
    if (agent_conn_open(fd, 10000, &fx->c, &err) < 0) {
        fprintf(stderr, "handshake: %s\n", err.message);
        return -1;
    }
    strcpy(fx->root, "/tmp/pyro-agent-test-XXXXXX");
    if (!mkdtemp(fx->root))
        return -1;
    *state = fx;
    return 0;
}

int agent_fx_teardown(void **state)
{
    struct fx *fx = *state;
    agent_conn_close(fx->c);
    (void)waitpid(fx->pid, NULL, 0); /* EOF on the channel ends a non-init agent */
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", fx->root);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}
