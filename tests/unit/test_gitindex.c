/* Reading a git index without git: the tracked paths of repositories that
 * git itself made (index versions 2, 3 and 4, SHA-1 and SHA-256, a linked
 * worktree's "gitdir:" file) equal `git ls-files -z`; a split index is
 * refused by name; hand-made indexes test the long-name rule and every
 * truncation of a real index is refused without reading past its end; and
 * nothing a hostile repository configures (core.fsmonitor) runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/record.h"
#include "lib/workspace/gitindex.h"

static char tmp[256];

static int setup(void **state)
{
    snprintf(tmp, sizeof(tmp), "/tmp/pyro-test-gitindex.XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    return rm_rf(tmp, NULL);
}

static void sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *cmd = NULL;
    assert_true(vasprintf(&cmd, fmt, ap) >= 0);
    va_end(ap);
    _cleanup_free_ char *full = xasprintf("cd %s && (%s) >/dev/null 2>&1", tmp, cmd);
    if (system(full) != 0)
        fail_msg("failed: %s", cmd);
}

static bool have_git(void)
{
    return system("git --version >/dev/null 2>&1") == 0;
}

/* git ls-files -z of dir, as a JSON array in index order. */
static json_t *ls_files(const char *dir)
{
    _cleanup_free_ char *cmd = xasprintf("git -C %s/%s ls-files -z --cached", tmp, dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf), f);
    pclose(f);
    json_t *out = json_array();
    for (size_t i = 0; i < n;) {
        size_t l = strnlen(buf + i, n - i);
        json_array_append_new(out, json_stringn(buf + i, l));
        i += l + 1;
    }
    return out;
}

static json_t *tracked(const char *dir, int *rc, pyro_error *err)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", tmp, dir);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    json_t *paths = NULL;
    *rc = gitindex_tracked(fd, &paths, err);
    return paths;
}

static void expect_same(const char *dir)
{
    pyro_error err = {0};
    int rc;
    json_auto_t *got = tracked(dir, &rc, &err);
    if (rc < 0)
        fail_msg("%s: %s", dir, err.message);
    json_auto_t *want = ls_files(dir);
    if (!json_equal(got, want)) {
        _cleanup_free_ char *g = json_dump(got, 0), *w = json_dump(want, 0);
        fail_msg("%s: got %s, git says %s", dir, g, w);
    }
    assert_true(json_array_size(want) > 0);
}

#define FILES                                                                                                 \
    "mkdir -p src/deep/er && echo a > a && echo b > src/b && echo c > src/deep/er/c && echo d > 'sp ace' && " \
    "echo e > src/deep/e && echo u > untracked"
#define ADD "git add a src 'sp ace' && git -c user.name=t -c user.email=t@t commit -qm x"

static void test_versions(void **state)
{
    if (!have_git())
        skip();
    sh("mkdir v2 && cd v2 && git init -q && " FILES " && " ADD);
    expect_same("v2");
    sh("cp -a v2 v3 && cd v3 && echo n > new && git add -N new"); /* intent-to-add: extended flags */
    expect_same("v3");
    sh("cp -a v3 v4 && cd v4 && git update-index --index-version 4");
    expect_same("v4");
    sh("mkdir sha256 && cd sha256 && git init -q --object-format=sha256 && " FILES " && " ADD
       " && git update-index --index-version 4");
    expect_same("sha256");
    sh("mkdir s2 && cd s2 && git init -q --object-format=sha256 && " FILES " && " ADD);
    expect_same("s2");
    /* Conflicts: stages 1 to 3 of one path. */
    sh("cp -a v2 merge && cd merge && G='git -c user.name=t -c user.email=t@t' && git checkout -qb o && "
       "echo 1 > a && $G commit -qam o && git checkout -q - && echo 2 > a && $G commit -qam m && ($G merge o || true)");
    json_auto_t *stages = ls_files("merge");
    size_t conflicted = 0;
    for (size_t i = 0; i < json_array_size(stages); i++)
        conflicted += !strcmp(json_string_value(json_array_get(stages, i)), "a");
    assert_int_equal(conflicted, 3); /* the merge left stages 1, 2 and 3 of a */
    expect_same("merge");
    /* A linked worktree: .git is a "gitdir:" file. */
    sh("cd v2 && git worktree add -q ../wt");
    expect_same("wt");
    /* A fresh repository tracks nothing. */
    sh("mkdir fresh && cd fresh && git init -q");
    pyro_error err = {0};
    int rc;
    json_auto_t *none = tracked("fresh", &rc, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(json_array_size(none), 0);
}

static void test_split_and_broken(void **state)
{
    if (!have_git())
        skip();
    sh("mkdir split && cd split && git init -q && " FILES " && " ADD " && git update-index --split-index");
    pyro_error err = {0};
    int rc;
    json_auto_t *p = tracked("split", &rc, &err);
    assert_int_equal(rc, -PYRO_E_UNSUPPORTED);
    assert_non_null(strstr(err.message, "split"));
    /* Every truncation of a real index is read within bounds, and refused
     * or (cut where an extension could end: the checksum is not verified)
     * read as a prefix of the whole list, never as other names. */
    sh("mkdir t && cd t && git init -q && " FILES " && " ADD);
    _cleanup_free_ char *ip = xasprintf("%s/t/.git/index", tmp);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    assert_int_equal(read_file_at(AT_FDCWD, ip, 1 << 20, &buf, &len, &err), 0);
    json_auto_t *all = NULL;
    assert_int_equal(gitindex_parse((unsigned char *)buf, len, &all, &err), 0);
    size_t refused = 0;
    for (size_t n = 0; n < len; n++) {
        unsigned char *copy = xmalloc(n ? n : 1);
        memcpy(copy, buf, n);
        json_t *paths = NULL;
        if (gitindex_parse(copy, n, &paths, &err) == 0) {
            for (size_t i = 0; i < json_array_size(paths); i++)
                assert_true(json_equal(json_array_get(paths, i), json_array_get(all, i)));
            assert_true(json_array_size(paths) <= json_array_size(all));
            json_decref(paths);
        } else
            refused++;
        free(copy);
    }
    assert_true(refused > len - 64);
    /* Not an index at all; a symlinked index; a fifo is not waited on. */
    sh("mkdir bad && cd bad && mkdir .git && echo nonsense > .git/index");
    json_auto_t *b = tracked("bad", &rc, &err);
    assert_int_equal(rc, -PYRO_E_INVALID);
    sh("mkdir lnk && cd lnk && mkdir .git && ln -s ../../t/.git/index .git/index");
    json_auto_t *l = tracked("lnk", &rc, &err);
    assert_true(rc < 0);
    sh("mkdir fifo && cd fifo && mkdir .git && mkfifo .git/index");
    json_auto_t *f = tracked("fifo", &rc, &err);
    assert_int_equal(rc, -PYRO_E_INVALID);
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

/* A version 2 index of one entry named name, flags' length field as given. */
static unsigned char *one_entry(const char *name, uint16_t lenfield, size_t *out_len)
{
    size_t nl = strlen(name), entry = (62 + nl + 8) & ~(size_t)7, n = 12 + entry + 20;
    unsigned char *b = xcalloc(1, n);
    memcpy(b, "DIRC", 4);
    put32(b + 4, 2);
    put32(b + 8, 1);
    put32(b + 12 + 24, 0100644);
    b[12 + 60] = (unsigned char)(lenfield >> 8);
    b[12 + 61] = (unsigned char)lenfield;
    memcpy(b + 12 + 62, name, nl);
    *out_len = n;
    return b;
}

static void test_handmade(void **state)
{
    pyro_error err = {0};
    size_t n;
    /* Names of 0xfff bytes and longer carry 0xfff in their flags. */
    char *longname = xmalloc(5001);
    memset(longname, 'x', 5000);
    longname[5000] = '\0';
    unsigned char *b = one_entry(longname, 0xfff, &n);
    json_t *paths = NULL;
    assert_int_equal(gitindex_parse(b, n, &paths, &err), 0);
    assert_int_equal(json_array_size(paths), 1);
    assert_int_equal(json_string_length(json_array_get(paths, 0)), 5000);
    json_decref(paths);
    free(b);
    /* A length field that disagrees with the name. */
    b = one_entry("abc", 4, &n);
    assert_int_equal(gitindex_parse(b, n, &paths, &err), -PYRO_E_INVALID);
    free(b);
    b = one_entry("abc", 3, &n);
    assert_int_equal(gitindex_parse(b, n, &paths, &err), 0);
    assert_string_equal(json_string_value(json_array_get(paths, 0)), "abc");
    json_decref(paths);
    /* A count larger than the entries present. */
    put32(b + 8, 1000000);
    assert_int_equal(gitindex_parse(b, n, &paths, &err), -PYRO_E_INVALID);
    free(b);
    free(longname);
}

/* A hostile repository: the index is read, the configuration is not. */
static void test_no_commands(void **state)
{
    if (!have_git())
        skip();
    sh("mkdir evil && cd evil && git init -q && " FILES " && " ADD " && "
       "git config core.fsmonitor 'touch ../fsmonitor-ran; false' && git config core.pager 'touch ../pager-ran'");
    expect_same("evil"); /* git ls-files itself may run them: remove the markers next */
    sh("rm -f fsmonitor-ran pager-ran");
    pyro_error err = {0};
    int rc;
    json_auto_t *p = tracked("evil", &rc, &err);
    assert_int_equal(rc, 0);
    _cleanup_free_ char *m1 = xasprintf("%s/fsmonitor-ran", tmp), *m2 = xasprintf("%s/pager-ran", tmp);
    assert_int_equal(access(m1, F_OK), -1);
    assert_int_equal(access(m2, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_and_broken, setup, teardown),
        cmocka_unit_test(test_handmade),
        cmocka_unit_test_setup_teardown(test_no_commands, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
