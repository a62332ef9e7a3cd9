/* Exec round trip on a running VM: the library's own path (control socket
 * -> monitor -> agent -> fork/exec `true` -> result), N times, without the
 * create/start/delete around it. Prints one latency per line in ms.
 * usage: exec_rtt VM_ID [N] (PYRO_HOME/XDG_CACHE_HOME as for the CLI) */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/timeutil.h"
#include "lib/vm/instance.h"
#include "lib/vm/instance_call.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: exec_rtt VM_ID [N]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 200;
    struct pyro_ctx *ctx = NULL;
    pyro_error err = {0};
    struct instance inst;
    if (pyro_ctx_new(&ctx, &err) < 0 || instance_open(ctx, "vms", argv[1], &inst, &err) < 0) {
        fprintf(stderr, "exec_rtt: %s\n", err.message);
        return 1;
    }
    /* Release the lock: the measurement is of the exec path only. */
    close(inst.lock_fd);
    inst.lock_fd = -1;
    json_auto_t *args = json_pack("{s:s, s:i}", "command", "true", "timeout_ms", 10000);
    for (int i = 0; i < n; i++) {
        int64_t t0 = time_mono_ns();
        json_t *res = NULL;
        if (instance_call(&inst, "exec", args, 10000, &res, &err) < 0) {
            fprintf(stderr, "exec_rtt: %s\n", err.message);
            return 1;
        }
        json_decref(res);
        printf("%.3f\n", (double)(time_mono_ns() - t0) / 1e6);
    }
    instance_close(&inst);
    pyro_ctx_free(ctx);
    return 0;
}
