/* The fixture of the sandbox tests (test_sandbox.c, test_sandbox_net.c):
 * sandboxes running the static probe (tests/helpers/probe.c) as PID 1 over
 * a real Debian rootfs, their output, and the checks that nothing of them
 * remains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/cgroups.h"
#include "backend/sandbox/sandbox.h"
#include "base/cleanup.h"
#include "base/id.h"
#include "base/idmap.h"
#include "base/paths.h"
#include "lib/contract/ctx.h"
#include "lib/env/env.h"
#include "sandbox_fixture.h"

char *rootfs;
char *probe;
struct idmap fixture_idmap;
char *workdir;

/* Sandboxes a test started and has not finished: a failing assertion
 * jumps out of the test, and the teardown destroys what is left. */
struct live {
    char dir[512], id[32];
};
static struct live live[8];

static void live_add(const char *dir, const char *id)
{
    for (size_t i = 0; i < ARRAY_SIZE(live); i++)
        if (!live[i].id[0]) {
            snprintf(live[i].dir, sizeof(live[i].dir), "%s", dir);
            snprintf(live[i].id, sizeof(live[i].id), "%s", id);
            return;
        }
}

void live_drop(const char *id)
{
    for (size_t i = 0; i < ARRAY_SIZE(live); i++)
        if (strcmp(live[i].id, id) == 0)
            live[i].id[0] = '\0';
}

char teardown_cmd[256]; /* extra host cleanup of the current test */

int teardown(void **state)
{
    if (teardown_cmd[0]) {
        (void)!system(teardown_cmd);
        teardown_cmd[0] = '\0';
    }
    for (size_t i = 0; i < ARRAY_SIZE(live); i++)
        if (live[i].id[0]) {
            pyro_error err = {0};
            if (sandbox_destroy(live[i].dir, live[i].id, &err) < 0)
                fprintf(stderr, "teardown: %s\n", err.message);
            live[i].id[0] = '\0';
        }
    return 0;
}

void run_init(struct run *r, const char *tag, bool network, char **argv)
{
    memset(r, 0, sizeof(*r));
    char rnd[8];
    id_random(rnd, sizeof(rnd));
    snprintf(r->id, sizeof(r->id), "t%s%s", tag, rnd);
    snprintf(r->dir, sizeof(r->dir), "%s/%s", workdir, r->id);
    r->cfg = (struct backend_config){
        .id = r->id,
        .rootfs = rootfs,
        .dir = r->dir,
        .init_path = probe,
        .init_argv = argv,
        .stdio_fd = -1,
        .vcpu_count = 1,
        .mem_mib = 256,
        .pids_max = 64,
        .network = network,
        .cgroup_parent = "pyro-test",
        .idmap = &fixture_idmap,
    };
    r->chan = -1;
    live_add(r->dir, r->id);
}

int run_start(struct run *r, pyro_error *err)
{
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    r->cfg.channel_fd = sp[1];
    int rc = sandbox_start(&r->cfg, &r->inst, err);
    close(sp[1]);
    r->chan = sp[0];
    return rc;
}

/* Reads the channel until EOF (the probe exited) or until a line "stop"
 * arrives, at most timeout_ms. */
void run_read(struct run *r, const char *stop, int timeout_ms)
{
    size_t used = strlen(r->out);
    while (used < sizeof(r->out) - 1) {
        if (stop && strstr(r->out, stop))
            return;
        struct pollfd p = {.fd = r->chan, .events = POLLIN};
        int n = poll(&p, 1, timeout_ms);
        assert_true(n > 0); /* else the probe hung */
        ssize_t k = read(r->chan, r->out + used, sizeof(r->out) - 1 - used);
        if (k <= 0)
            return;
        used += (size_t)k;
        r->out[used] = '\0';
    }
}

/* The value of "key=" in the probe's output ("" when absent). */
const char *kv(const struct run *r, const char *key)
{
    static char val[1024];
    size_t n = strlen(key);
    for (const char *p = r->out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, n) == 0 && p[n] == '=') {
            size_t len = strcspn(p + n + 1, "\n");
            if (len >= sizeof(val))
                len = sizeof(val) - 1;
            memcpy(val, p + n + 1, len);
            val[len] = '\0';
            return val;
        }
    }
    return "";
}

void run_wait_exit(struct run *r)
{
    siginfo_t si;
    assert_int_equal(waitid(P_PIDFD, (id_t)r->inst.pidfd, &si, WEXITED), 0);
}

void run_finish(struct run *r)
{
    pyro_error err = {0};
    if (r->inst.pidfd >= 0 && r->inst.pid > 0) {
        backend_instance_kill(&r->inst, SIGKILL, &err);
        siginfo_t si;
        (void)waitid(P_PIDFD, (id_t)r->inst.pidfd, &si, WEXITED);
    }
    backend_instance_release(&r->inst);
    if (sandbox_destroy(r->dir, r->id, &err) < 0)
        fail_msg("destroy: %s", err.message);
    live_drop(r->id);
    if (r->chan >= 0)
        close(r->chan);
}

/* Starts a sandbox running the probe with argv, reads its report to EOF. */
void run_probe(struct run *r, const char *tag, bool network, char **argv)
{
    pyro_error err = {0};
    run_init(r, tag, network, argv);
    if (run_start(r, &err) < 0)
        fail_msg("sandbox_start: %s", err.message);
    run_read(r, NULL, 60000);
    run_wait_exit(r);
}

bool nft_has_rule(const char *id)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "nft list table ip pyro 2>/dev/null | grep -q 'pyro:%s\"'", id);
    return system(cmd) == 0;
}

bool mounted_below(const char *dir)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    bool found = false;
    while (f && fgets(line, sizeof(line), f))
        if (strstr(line, dir))
            found = true;
    if (f)
        fclose(f);
    return found;
}

bool cgroup_exists(const char *ctrl, const char *id)
{
    char path[512];
    snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/pyro-test/%s", ctrl, id);
    return access(path, F_OK) == 0;
}

void assert_gone(const char *dir, const char *id)
{
    assert_false(mounted_below(dir));
    assert_int_equal(access(dir, F_OK), -1);
    assert_false(nft_has_rule(id));
    if (cgroups_version(NULL) == 1) {
        assert_false(cgroup_exists("memory", id));
        assert_false(cgroup_exists("pids", id));
        assert_false(cgroup_exists("cpu", id));
    } else
        assert_false(cgroup_exists("unified", id) || cgroup_exists("", id));
}

/* The rootfs: $PYRO_TEST_ROOTFS, else debian:12-base from the test
 * environment cache (ctest's fixture env_base pulls it; env_ensure pulls it
 * here when the test runs alone). */
static char *rootfs_find(void)
{
    const char *env = getenv("PYRO_TEST_ROOTFS");
    if (env && env[0])
        return xstrdup(env);
    const char *cache = getenv("PYRO_TEST_CACHE");
    if (cache && cache[0])
        setenv("XDG_CACHE_HOME", cache, 1);
    struct pyro_ctx *ctx = NULL;
    struct env_install inst;
    pyro_error err = {0};
    if (pyro_ctx_new(&ctx, &err) < 0 || env_ensure(ctx, "debian:12-base", &inst, &err) < 0) {
        fprintf(stderr, "no test rootfs: %s\n", err.message);
        pyro_ctx_free(ctx);
        return NULL;
    }
    pyro_ctx_free(ctx);
    return xstrdup(inst.rootfs);
}

int sandbox_fixture_main(const struct CMUnitTest *tests, size_t n)
{
    pyro_error err = {0};
    int v = cgroups_version(&err);
    if (v < 0) {
        fprintf(stderr, "skip: %s\n", err.message);
        return 77;
    }
    fprintf(stderr, "cgroup v%d\n", v);
    rootfs = rootfs_find();
    pyro_error ierr = {0};
    if (idmap_resolve(&fixture_idmap, &ierr) < 0) {
        fprintf(stderr, "skip: %s\n", ierr.message);
        exit(77);
    }
    if (!rootfs) {
        fprintf(stderr, "no test rootfs (set PYRO_TEST_ROOTFS, or install mmdebstrap and a Debian mirror)\n");
        return 1;
    }
    const char *build = getenv("PYRO_TEST_BUILD_DIR");
    probe = xasprintf("%s/tests/pyro-probe", build ? build : ".");
    char tmpl[] = "/tmp/pyro-test-sandbox.XXXXXX";
    workdir = xstrdup(mkdtemp(tmpl));
    int rc = _cmocka_run_group_tests("sandbox", tests, n, NULL, NULL);
    rm_rf(workdir, NULL);
    free(workdir);
    free(rootfs);
    free(probe);
    return rc;
}
