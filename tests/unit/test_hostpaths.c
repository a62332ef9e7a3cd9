/* The host-path policy: lexical normalisation and the beneath test; opening
 * beneath a root with openat2 and, with openat2 made to fail with ENOSYS by
 * a seccomp filter, with the component walk; symlink targets; and the
 * policy applied to sources and destinations (outside, through a symlink,
 * into .git, over a dangling link, trailing slash, modes, link targets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/confine.h"
#include "base/err.h"
#include "base/paths.h"
#include "base/relpath.h"
#include "lib/contract/ctx.h"
#include "lib/host/hostpaths.h"

static char tmp[256];
static char root[300], out[300];

static void mk(const char *rel, const char *text)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", tmp, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void ln(const char *target, const char *rel)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", tmp, rel);
    assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
    snprintf(tmp, sizeof(tmp), "/tmp/pyro-test-hostpaths.XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    snprintf(root, sizeof(root), "%s/root", tmp);
    snprintf(out, sizeof(out), "%s/out", tmp);
    mkdir(root, 0755);
    mkdir(out, 0700);
    _cleanup_free_ char *d1 = xasprintf("%s/sub", root), *d2 = xasprintf("%s/.git", root);
    mkdir(d1, 0755);
    mkdir(d2, 0755);
    mk("root/sub/f", "inside\n");
    mk("out/secret", "outside\n");
    ln("../out", "root/up");           /* relative, leaves the root */
    ln(out, "root/abs");               /* absolute, leaves the root */
    ln("sub", "root/in");              /* stays inside */
    ln("../out/new", "root/dangling"); /* dangling, leaves the root */
    return 0;
}

static int teardown(void **state)
{
    return rm_rf(tmp, NULL);
}

static void test_normalize_beneath(void **state)
{
    static const char *const cases[][2] = {
        {"/a/b/../c", "/a/c"}, {"/a/./b//c/", "/a/b/c"}, {"/..", "/"}, {"/a/../../b", "/b"}, {"/", "/"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *n = confine_normalize(cases[i][0]);
        assert_string_equal(n, cases[i][1]);
    }
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    _cleanup_free_ char *rel = confine_normalize("x/../y"), *want = xasprintf("%s/y", strcmp(cwd, "/") ? cwd : "");
    assert_string_equal(rel, want);

    const char *r;
    assert_true(confine_beneath("/a/b", "/a/b", &r));
    assert_string_equal(r, "");
    assert_true(confine_beneath("/a/b", "/a/b/c/d", &r));
    assert_string_equal(r, "c/d");
    assert_false(confine_beneath("/a/b", "/a/bc", &r));
    assert_false(confine_beneath("/a/b", "/a", &r));
    assert_true(confine_beneath("/", "/etc/passwd", &r));
    assert_string_equal(r, "etc/passwd");

    assert_int_equal(relpath_link_check("x", "y", NULL), 0);
    assert_int_equal(relpath_link_check("d/x", "../y", NULL), 0);
    assert_int_equal(relpath_link_check("d/x", "e/../../y", NULL), 0);
    assert_true(relpath_link_check("x", "../y", NULL) < 0);
    assert_true(relpath_link_check("d/x", "../../y", NULL) < 0);
    assert_true(relpath_link_check("d/x", "/etc/passwd", NULL) < 0);
    assert_true(relpath_link_check("d/x", "", NULL) < 0);
}

static void test_resolve(void **state)
{
    static const char *const cases[][2] = {
        {"root/sub/f", "root/sub/f"},      {"root/in/f", "root/sub/f"},      {"root/in/../up", "out"},
        {"root/up/secret", "out/secret"},  {"root/dangling", "out/new"},     {"root/dangling/x/../y", "out/new/y"},
        {"root/up/missing/../x", "out/x"}, {"root/nope/../sub", "root/sub"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *in = xasprintf("%s/%s", tmp, cases[i][0]), *want = xasprintf("%s/%s", tmp, cases[i][1]);
        _cleanup_free_ char *got = confine_resolve(in);
        if (!got || strcmp(got, want))
            fail_msg("%s -> %s, expected %s", cases[i][0], got ? got : "NULL", want);
    }
    _cleanup_free_ char *loop = xasprintf("%s/loop", tmp);
    assert_int_equal(symlink("loop", loop), 0);
    assert_null(confine_resolve(loop));
}

/* Opens beneath root; returns 0 or -errno. */
static int try_open(const char *rel, int flags)
{
    _cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(rfd >= 0);
    int fd = confine_openat(rfd, rel, flags, 0);
    if (fd >= 0)
        close(fd);
    return fd < 0 ? fd : 0;
}

static void check_open(bool walk)
{
    assert_int_equal(try_open("sub/f", O_RDONLY), 0);
    assert_int_equal(try_open("", O_RDONLY | O_DIRECTORY), 0);
    assert_int_equal(try_open("missing", O_RDONLY), -ENOENT);
    for (const char *p = "up/secret\0abs/secret\0../out/secret\0sub/../../out/secret\0"; *p; p += strlen(p) + 1) {
        int r = try_open(p, O_RDONLY);
        if (r != -EXDEV && r != -ELOOP)
            fail_msg("%s: %s opened (%d)", walk ? "walk" : "openat2", p, r);
    }
    /* A final symlink that stays inside: openat2 follows it, the walk (for
     * canonical paths, which hold none) refuses it. */
    assert_int_equal(try_open("in/f", O_RDONLY), walk ? -ELOOP : 0);
}

static void test_open_beneath(void **state)
{
    check_open(false);
    /* The same without openat2 (kernels before 5.6), in a child. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
        if (!f || seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0) < 0 || seccomp_load(f) < 0)
            _exit(3);
        check_open(true);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void policy_init(struct host_policy *p, struct pyro_ctx *ctx)
{
    memset(p, 0, sizeof(*p));
    memset(ctx, 0, sizeof(*ctx));
    pyro_error err = {0};
    assert_int_equal(host_policy_add(p, root, true, "test root", &err), 0);
    ctx->host_policy = p;
}

static void test_sources(void **state)
{
    struct host_policy p;
    struct pyro_ctx ctx;
    policy_init(&p, &ctx);
    pyro_error err = {0};
    int fd;
    _cleanup_free_ char *canon = NULL;
    _cleanup_free_ char *good = xasprintf("%s/in/f", root);
    assert_int_equal(host_open_source(&ctx, "seed_path", good, &fd, &canon, &err), 0);
    close(fd);
    _cleanup_free_ char *want = xasprintf("%s/sub/f", root);
    assert_string_equal(canon, want);
    const char *bad[] = {"up", "abs/secret", "../out", "dangling", "up/missing", "../out/missing"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", root, bad[i]);
        err_clear(&err);
        assert_int_equal(host_open_source(&ctx, "seed_path", path, &fd, NULL, &err), -PYRO_E_INVALID);
        assert_non_null(strstr(err.message, "seed_path"));
        assert_non_null(strstr(err.message, root));
        assert_non_null(strstr(err.message, "outside"));
    }
    /* Missing beneath the root: says so (the caller may look there). */
    _cleanup_free_ char *missing = xasprintf("%s/nope", root);
    assert_int_equal(host_open_source(&ctx, "seed_path", missing, &fd, NULL, &err), -ENOENT);
    /* Without a policy (CLI) or for the project source: not confined. */
    _cleanup_free_ char *secret = xasprintf("%s/secret", out);
    assert_int_equal(host_open_source(&ctx, NULL, secret, &fd, NULL, &err), 0);
    close(fd);
    ctx.host_policy = NULL;
    assert_int_equal(host_open_source(&ctx, "seed_path", secret, &fd, NULL, &err), 0);
    close(fd);
    host_policy_truncate(&p, 0);
}

static void test_dests(void **state)
{
    struct host_policy p;
    struct pyro_ctx ctx;
    policy_init(&p, &ctx);
    pyro_error err = {0};
    struct host_dest d;
    const char *refused[] = {"up/x", "abs/x", "../out/x", "dangling", "sub/f", ".git/hooks-pre", "sub/", "in/.."};
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", root, refused[i]);
        err_clear(&err);
        if (host_dest_open(&ctx, "output_path", path, &d, &err) == 0)
            fail_msg("%s accepted", refused[i]);
        assert_non_null(strstr(err.message, "output_path"));
    }
    /* A file: no execute bits when confined; nothing replaced. */
    _cleanup_free_ char *fpath = xasprintf("%s/in/new", root);
    assert_int_equal(host_dest_open(&ctx, "output_path", fpath, &d, &err), 0);
    _cleanup_free_ char *want = xasprintf("%s/sub/new", root);
    assert_string_equal(d.path, want);
    int fd = host_dest_tmpfile(&d, &err);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    assert_int_equal(host_dest_commit(&d, fd, 0755, &err), 0);
    close(fd);
    struct stat st;
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    host_dest_close(&d);
    /* Symlinks: targets must stay beneath the root. */
    _cleanup_free_ char *lpath = xasprintf("%s/sub/link", root);
    assert_int_equal(host_dest_open(&ctx, "output_path", lpath, &d, &err), 0);
    assert_int_equal(host_dest_symlink(&d, "../../out/secret", &err), -PYRO_E_INVALID);
    assert_int_equal(host_dest_symlink(&d, "/etc/passwd", &err), -PYRO_E_INVALID);
    assert_int_equal(host_dest_symlink(&d, "../in/f", &err), 0);
    host_dest_close(&d);
    /* A name that appears between the check and the link is not replaced. */
    _cleanup_free_ char *race = xasprintf("%s/race", root);
    assert_int_equal(host_dest_open(&ctx, "output_path", race, &d, &err), 0);
    fd = host_dest_tmpfile(&d, &err);
    assert_int_equal(symlink("../out/raced", race), 0);
    assert_int_equal(host_dest_commit(&d, fd, 0644, &err), -EEXIST);
    close(fd);
    host_dest_close(&d);
    _cleanup_free_ char *raced = xasprintf("%s/raced", out);
    assert_int_equal(access(raced, F_OK), -1);
    /* Unconfined (CLI): anywhere, execute bits kept, still never over a name. */
    ctx.host_policy = NULL;
    _cleanup_free_ char *opath = xasprintf("%s/cli", out);
    assert_int_equal(host_dest_open(&ctx, "output_path", opath, &d, &err), 0);
    fd = host_dest_tmpfile(&d, &err);
    assert_int_equal(host_dest_commit(&d, fd, 0755, &err), 0);
    close(fd);
    assert_int_equal(stat(opath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);
    host_dest_close(&d);
    _cleanup_free_ char *dpath = xasprintf("%s/dangling", root);
    assert_int_not_equal(host_dest_open(&ctx, "output_path", dpath, &d, &err), 0);
    host_policy_truncate(&p, 0);
}

static void test_policy_describe(void **state)
{
    struct host_policy p = {0};
    pyro_error err = {0};
    assert_int_equal(host_policy_add(&p, root, false, "project", &err), 0);
    assert_int_equal(host_policy_add(&p, out, true, "exports", &err), 0);
    assert_int_equal(host_policy_add(&p, root, true, "again", &err), 0); /* gains write, keeps its place */
    assert_int_equal(p.n, 2);
    _cleanup_free_ char *r = host_policy_describe(&p, false), *w = host_policy_describe(&p, true);
    _cleanup_free_ char *want = xasprintf("%s (project), %s (exports)", root, out);
    assert_string_equal(r, want);
    assert_string_equal(w, want);
    _cleanup_free_ char *file = xasprintf("%s/secret", out);
    assert_int_equal(host_policy_add(&p, file, true, "x", &err), -PYRO_E_INVALID);
    assert_int_not_equal(host_policy_add(&p, "/nonexistent/dir", true, "x", &err), 0);
    host_policy_truncate(&p, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_beneath),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_beneath, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_describe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
