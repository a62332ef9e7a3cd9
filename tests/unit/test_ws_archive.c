/* The host side of the workspace import path: hostile archives (absolute,
 * "..", a file beneath a symlink, devices, hard links out, bombs by size
 * and by count) and directory walks. The name and symlink rules themselves
 * are test_relpath's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
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
#include "base/relpath.h"
#include "lib/workspace/ws_archive.h"

static char tmpdir[256];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pyro-test-wsarch.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    return rm_rf(tmpdir, NULL);
}

/* Member kinds for write_tar. */
enum { M_FILE, M_DIR, M_LINK, M_HARD, M_CHR, M_FIFO };
struct member {
    int kind;
    const char *name, *target;
    long long size;
};

static char *write_tar(const char *name, const struct member *m, size_t n, bool gz)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    struct archive *w = archive_write_new();
    archive_write_set_format_pax_restricted(w);
    if (gz)
        archive_write_add_filter_gzip(w);
    assert_int_equal(archive_write_open_filename(w, path), ARCHIVE_OK);
    char zeros[65536] = {0};
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_perm(e, 0644);
        switch (m[i].kind) {
        case M_FILE:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, m[i].size);
            break;
        case M_DIR: archive_entry_set_filetype(e, AE_IFDIR); break;
        case M_LINK:
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, m[i].target);
            break;
        case M_HARD:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, m[i].target);
            break;
        case M_CHR:
            archive_entry_set_filetype(e, AE_IFCHR);
            archive_entry_set_rdev(e, 0x0103);
            break;
        case M_FIFO: archive_entry_set_filetype(e, AE_IFIFO); break;
        default: break;
        }
        archive_write_header(w, e);
        for (long long left = m[i].kind == M_FILE ? m[i].size : 0; left > 0;) {
            size_t k = left > (long long)sizeof(zeros) ? sizeof(zeros) : (size_t)left;
            archive_write_data(w, zeros, k);
            left -= (long long)k;
        }
        archive_entry_free(e);
    }
    archive_write_close(w);
    archive_write_free(w);
    return path;
}

static int build(const char *source, long long max_entries, long long max_bytes, json_t **stats, pyro_error *err)
{
    _cleanup_close_ int fd = open(tmpdir, O_TMPFILE | O_RDWR, 0600);
    assert_true(fd >= 0);
    struct ws_import_limits lim = {max_entries, max_bytes};
    return ws_archive_build(source, fd, &lim, stats, err);
}

static void expect_refused(const char *name, const struct member *m, size_t n, bool gz, int code, const char *msg)
{
    _cleanup_free_ char *p = write_tar(name, m, n, gz);
    pyro_error err = {0};
    int r = build(p, 1000, 1 << 20, NULL, &err);
    if (r != code || !strstr(err.message, msg))
        fail_msg("%s: got %d '%s', expected %d '%s'", name, r, err.message, code, msg);
}

static void test_hostile_archives(void **state)
{
    struct member abs[] = {{M_FILE, "ok", NULL, 1}, {M_FILE, "/etc/evil", NULL, 1}};
    expect_refused("abs.tar", abs, 2, false, -PYRO_E_INVALID, "absolute");
    struct member dd[] = {{M_FILE, "a/../../evil", NULL, 1}};
    expect_refused("dd.tar.gz", dd, 1, true, -PYRO_E_INVALID, "'..'");
    struct member through[] = {{M_DIR, "sub", NULL, 0}, {M_LINK, "l", "sub", 0}, {M_FILE, "l/evil", NULL, 1}};
    expect_refused("through.tar", through, 3, false, -PYRO_E_INVALID, "beneath the symlink 'l'");
    struct member up[] = {{M_LINK, "a/l", "../..", 0}};
    expect_refused("up.tgz", up, 1, true, -PYRO_E_INVALID, "escapes");
    struct member dev[] = {{M_CHR, "null", NULL, 0}};
    expect_refused("dev.tar", dev, 1, false, -PYRO_E_INVALID, "character device");
    struct member fifo[] = {{M_FIFO, "p", NULL, 0}};
    expect_refused("fifo.tar", fifo, 1, false, -PYRO_E_INVALID, "fifo");
    struct member hard[] = {{M_HARD, "h", "/etc/passwd", 0}};
    expect_refused("hard.tar", hard, 1, false, -PYRO_E_INVALID, "hard link");
    /* The root itself: "./" as a directory is skipped, "." as a file refused. */
    struct member dot[] = {{M_FILE, ".", NULL, 1}};
    expect_refused("dot.tar", dot, 1, false, -PYRO_E_INVALID, "names the destination itself");
    /* Deeper than the relative-path rules allow. */
    char deep[2 * (RELPATH_DEPTH_MAX + 1) + 1] = "";
    for (int i = 0; i <= RELPATH_DEPTH_MAX; i++)
        strcat(deep, i ? "/d" : "d");
    struct member dp[] = {{M_FILE, deep, NULL, 1}};
    expect_refused("deep.tar", dp, 1, false, -PYRO_E_INVALID, "components");
    /* Bombs: the declared size passes the limit (refused from the header,
     * before the data is read), or the entry count does. */
    struct member big[] = {{M_FILE, "a", NULL, 600 << 10}, {M_FILE, "b", NULL, 600 << 10}};
    expect_refused("big.tar.gz", big, 2, true, -PYRO_E_LIMIT, "decompression bomb");
    struct member *many = calloc(1001, sizeof(*many));
    char **names = calloc(1001, sizeof(char *));
    for (int i = 0; i < 1001; i++) {
        names[i] = xasprintf("f%d", i);
        many[i] = (struct member){M_FILE, names[i], NULL, 0};
    }
    expect_refused("many.tar.gz", many, 1001, true, -PYRO_E_LIMIT, "more than 1000 entries");
    for (int i = 0; i < 1001; i++)
        free(names[i]);
    free(names);
    free(many);
}

static void test_good_archive(void **state)
{
    /* The root entry "./" is skipped; "./" prefixes are dropped. */
    struct member good[] = {{M_DIR, "./", NULL, 0},
                            {M_DIR, "./src/", NULL, 0},
                            {M_FILE, "./src/a.c", NULL, 5},
                            {M_LINK, "src/cur", "a.c", 0},
                            {M_HARD, "src/b.c", "./src/a.c", 0}};
    _cleanup_free_ char *p = write_tar("good.tgz", good, 5, true);
    json_t *st = NULL;
    pyro_error err = {0};
    assert_int_equal(build(p, 1000, 1 << 20, &st, &err), 0);
    assert_string_equal(json_get_str(st, "kind", ""), "tar_archive");
    assert_int_equal(json_get_int(st, "entries", 0), 4);
    assert_int_equal(json_get_int(st, "bytes", 0), 5);
    json_decref(st);
    _cleanup_free_ char *bad = xasprintf("%s/notes.zip", tmpdir);
    close(open(bad, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(build(bad, 1000, 1 << 20, NULL, &err), -PYRO_E_INVALID);
}

static void test_directory_walk(void **state)
{
    _cleanup_free_ char *d = xasprintf("%s/tree", tmpdir);
    _cleanup_free_ char *sub = xasprintf("%s/sub", d);
    mkdir_p(sub, 0755, NULL);
    _cleanup_free_ char *f = xasprintf("%s/sub/f.txt", d);
    FILE *fp = fopen(f, "w");
    fputs("hello", fp);
    fclose(fp);
    _cleanup_free_ char *l = xasprintf("%s/inside", d);
    assert_int_equal(symlink("sub/f.txt", l), 0);
    _cleanup_free_ char *fifo = xasprintf("%s/pipe", d);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    json_t *st = NULL;
    pyro_error err = {0};
    assert_int_equal(build(d, 1000, 1 << 20, &st, &err), 0);
    assert_string_equal(json_get_str(st, "kind", ""), "directory");
    assert_int_equal(json_get_int(st, "entries", 0), 3);
    assert_int_equal(json_get_int(st, "skipped", 0), 1);
    json_decref(st);
    /* A symlink out of the tree is refused, naming it. */
    _cleanup_free_ char *out = xasprintf("%s/sub/out", d);
    assert_int_equal(symlink("/etc/passwd", out), 0);
    assert_int_equal(build(d, 1000, 1 << 20, NULL, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "sub/out"));
    unlink(out);
    assert_int_equal(symlink("../../..", out), 0);
    assert_int_equal(build(d, 1000, 1 << 20, NULL, &err), -PYRO_E_INVALID);
    unlink(out);
    /* Limits apply to directories too. */
    assert_int_equal(build(d, 2, 1 << 20, NULL, &err), -PYRO_E_LIMIT);
    assert_int_equal(build(d, 1000, 4, NULL, &err), -PYRO_E_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile_archives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_good_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_walk, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
