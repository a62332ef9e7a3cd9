/* The sandbox tests' fixture (sandbox_fixture.c). */
#ifndef PYRO_TEST_SANDBOX_FIXTURE_H
#define PYRO_TEST_SANDBOX_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "backend/backend.h"
#include "base/err.h"

struct run {
    char id[32];
    char dir[512];
    struct backend_config cfg;
    struct backend_instance inst;
    int chan; /* our end of the channel */
    char out[16384];
};

extern char *rootfs;               /* the rootfs tree */
extern char *probe;                /* the static probe binary */
extern struct idmap fixture_idmap; /* the id range of the sandboxes */
extern char *workdir;              /* per-run scratch directory */
extern char teardown_cmd[256];     /* extra host cleanup of the current test */

int teardown(void **state);
void run_init(struct run *r, const char *tag, bool network, char **argv);
int run_start(struct run *r, pyro_error *err);
/* Reads the channel until EOF (the probe exited) or until a line "stop"
 * arrives, at most timeout_ms. */
void run_read(struct run *r, const char *stop, int timeout_ms);
/* The value of "key=" in the probe's output ("" when absent). */
const char *kv(const struct run *r, const char *key);
void run_wait_exit(struct run *r);
void run_finish(struct run *r);
/* Forgets a sandbox the test removed itself (the teardown destroys the rest). */
void live_drop(const char *id);
/* Starts a sandbox running the probe with argv, reads its report to EOF. */
void run_probe(struct run *r, const char *tag, bool network, char **argv);
bool nft_has_rule(const char *id);
bool mounted_below(const char *dir);
bool cgroup_exists(const char *ctrl, const char *id);
void assert_gone(const char *dir, const char *id);
/* main of a sandbox test: skips (77) without cgroups or id ranges, finds the
 * rootfs and the probe, runs tests, cleans up. */
int sandbox_fixture_main(const struct CMUnitTest *tests, size_t n);

#define assert_kv(r, key, want)                                                                                     \
    do {                                                                                                            \
        if (strcmp(kv((r), (key)), (want)) != 0)                                                                    \
            fail_msg("%s: got '%s', want '%s'\n--- probe output ---\n%s", (key), kv((r), (key)), (want), (r)->out); \
    } while (0)

#endif
