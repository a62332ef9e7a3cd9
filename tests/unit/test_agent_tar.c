/* tar_out and tar_in through the real pyro-agent: a round trip of a tree
 * with long names and links, and extraction refusing what could escape or
 * exhaust the destination. Archives for the refusals are written here by a
 * minimal ustar builder, independent of the agent's writer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_fixture.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "lib/vm/agent_client.h"
#include "proto/proto.h"

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *cmd = NULL;
    assert_true(vasprintf(&cmd, fmt, ap) >= 0);
    va_end(ap);
    if (system(cmd) != 0)
        fail_msg("command failed: %s", cmd);
}

/* ---- a minimal ustar builder ---- */
struct tarbuf {
    uint8_t *p;
    size_t len;
};

static void tb_entry(struct tarbuf *t, const char *name, char type, uint64_t size, const char *link, const void *data)
{
    size_t padded = (size_t)((size + 511) / 512 * 512);
    bool write_data = data != NULL;
    t->p = xrealloc(t->p, t->len + 512 + (write_data ? padded : 0));
    uint8_t *h = t->p + t->len;
    memset(h, 0, 512);
    strncpy((char *)h, name, 100);
    snprintf((char *)h + 100, 8, "%07o", 0644);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    snprintf((char *)h + 136, 12, "%011o", 0);
    h[156] = (uint8_t)type;
    if (link)
        strncpy((char *)h + 157, link, 100);
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    t->len += 512;
    if (write_data) {
        memset(t->p + t->len, 0, padded);
        memcpy(t->p + t->len, data, (size_t)size);
        t->len += padded;
    }
}

static void tb_end(struct tarbuf *t)
{
    t->p = xrealloc(t->p, t->len + 1024);
    memset(t->p + t->len, 0, 1024);
    t->len += 1024;
}

struct mem_src {
    const uint8_t *p;
    size_t left;
};

static ssize_t mem_read(void *ud, void *buf, size_t cap, pyro_error *err)
{
    struct mem_src *m = ud;
    size_t n = m->left < cap ? m->left : cap;
    memcpy(buf, m->p, n);
    m->p += n;
    m->left -= n;
    return (ssize_t)n;
}

static int tar_in(struct fx *fx, const char *dest, const struct tarbuf *t, json_t *extra, json_t **res, pyro_error *err)
{
    json_t *args = json_pack("{s:s,s:s}", "root", fx->root, "path", dest);
    if (extra) {
        json_object_update(args, extra);
        json_decref(extra);
    }
    json_auto_t *req = json_pack("{s:s,s:o}", "op", "tar_in", "args", args);
    struct mem_src m = {.p = t->p, .left = t->len};
    return agent_call_stream_in(fx->c, req, mem_read, &m, res, T_MS, err);
}

static int sink_mem(void *ud, const void *buf, size_t len, pyro_error *err)
{
    struct tarbuf *t = ud;
    t->p = xrealloc(t->p, t->len + len);
    memcpy(t->p + t->len, buf, len);
    t->len += len;
    return 0;
}

static void test_round_trip(void **state)
{
    struct fx *fx = *state;
    pyro_error err = {0};
    const char *longdir = "a-directory-name-that-is-rather-long-0123456789/"
                          "and-another-one-that-pushes-us-past-the-ustar-limit-0123456789";
    run("cd %s && mkdir -p src/sub src/%s && printf 'one\\n' > src/one.txt && "
        "head -c 300000 /dev/urandom > src/sub/blob.bin && printf x > src/%s/deep-file.txt && "
        "ln -s sub/blob.bin src/link && chmod 0750 src/sub && : > src/empty",
        fx->root, longdir, longdir);

    struct tarbuf out = {0};
    json_auto_t *req = json_pack("{s:s,s:{s:s,s:s}}", "op", "tar_out", "args", "root", fx->root, "path", "src");
    json_t *res = NULL;
    assert_int_equal(agent_call_stream_out(fx->c, req, sink_mem, &out, &res, T_MS, &err), 0);
    assert_int_equal(json_get_int(res, "bytes", 0), (long long)out.len);
    assert_int_equal(out.len % 512, 0);
    assert_int_equal(json_get_int(res, "entries", 0), 8);
    json_decref(res);

    /* GNU tar reads the archive, long names included. */
    _cleanup_free_ char *tarfile = xasprintf("%s/out.tar", fx->root);
    _cleanup_close_ int fd = open(tarfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_int_equal(write(fd, out.p, out.len), (ssize_t)out.len);
    run("cd %s && tar -tf out.tar | grep -qx '%s/deep-file.txt'", fx->root, longdir);

    res = NULL;
    assert_int_equal(tar_in(fx, "dst/nested", &out, NULL, &res, &err), 0);
    assert_int_equal(json_get_int(res, "entries", 0), 8);
    json_decref(res);
    run("cd %s && diff -r src dst/nested && test \"$(readlink dst/nested/link)\" = sub/blob.bin && "
        "test \"$(stat -c %%a dst/nested/sub)\" = 750",
        fx->root);

    /* A single file comes out as one entry named by its last component. */
    struct tarbuf one = {0};
    json_auto_t *req1 = json_pack("{s:s,s:{s:s,s:s}}", "op", "tar_out", "args", "root", fx->root, "path",
                                  "src/one.txt");
    assert_int_equal(agent_call_stream_out(fx->c, req1, sink_mem, &one, &res, T_MS, &err), 0);
    assert_int_equal(json_get_int(res, "entries", 0), 1);
    json_decref(res);
    assert_string_equal((const char *)one.p, "one.txt");
    free(one.p);
    free(out.p);
}

/* The number of open fds of process pid. */
static int fd_count(pid_t pid)
{
    _cleanup_free_ char *path = xasprintf("/proc/%d/fd", (int)pid);
    _cleanup_closedir_ DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    return n;
}

/* Empty files have no data to stream: archiving many of them leaves the
 * agent with no more fds than before (each used to stay open). */
static void test_empty_files_no_fd_leak(void **state)
{
    struct fx *fx = *state;
    pyro_error err = {0};
    run("cd %s && mkdir many && cd many && for i in $(seq 1 300); do : > e$i; done", fx->root);
    int before = fd_count(fx->pid);
    struct tarbuf out = {0};
    json_auto_t *req = json_pack("{s:s,s:{s:s,s:s}}", "op", "tar_out", "args", "root", fx->root, "path", "many");
    json_t *res = NULL;
    assert_int_equal(agent_call_stream_out(fx->c, req, sink_mem, &out, &res, T_MS, &err), 0);
    assert_int_equal(json_get_int(res, "entries", 0), 300);
    json_decref(res);
    free(out.p);
    assert_int_equal(fd_count(fx->pid), before);
}

/* Extracts t into a fresh directory and expects the refusal code. */
static void expect_refused(struct fx *fx, struct tarbuf *t, json_t *extra, int code, const char *what)
{
    pyro_error err = {0};
    json_t *res = NULL;
    tb_end(t);
    static int n;
    _cleanup_free_ char *dest = xasprintf("d%d", n++);
    int r = tar_in(fx, dest, t, extra, &res, &err);
    if (r != code)
        fail_msg("%s: got %d (%s), want %d", what, r, err.message, code);
    free(t->p);
    t->p = NULL;
    t->len = 0;
}

static void test_refusals(void **state)
{
    struct fx *fx = *state;
    struct tarbuf t = {0};

    tb_entry(&t, "/abs.txt", '0', 1, NULL, "x");
    expect_refused(fx, &t, NULL, -PYRO_E_INVALID, "absolute path");
    tb_entry(&t, "../up.txt", '0', 1, NULL, "x");
    expect_refused(fx, &t, NULL, -PYRO_E_INVALID, "dot-dot");
    tb_entry(&t, "a/b/../../../up2.txt", '0', 1, NULL, "x");
    expect_refused(fx, &t, NULL, -PYRO_E_INVALID, "nested dot-dot");
    tb_entry(&t, "null", '3', 0, NULL, NULL);
    expect_refused(fx, &t, NULL, -PYRO_E_INVALID, "char device");
    tb_entry(&t, "disk", '4', 0, NULL, NULL);
    expect_refused(fx, &t, NULL, -PYRO_E_INVALID, "block device");
    tb_entry(&t, "pipe", '6', 0, NULL, NULL);
    expect_refused(fx, &t, NULL, -PYRO_E_INVALID, "fifo");
    tb_entry(&t, "evil", '2', 0, "../../outside", NULL);
    expect_refused(fx, &t, NULL, -PYRO_E_INVALID, "escaping symlink");
    tb_entry(&t, "abs-link", '2', 0, "/etc", NULL);
    expect_refused(fx, &t, NULL, -PYRO_E_INVALID, "absolute symlink");
    tb_entry(&t, "hard", '1', 0, "/etc/passwd", NULL);
    expect_refused(fx, &t, NULL, -PYRO_E_INVALID, "escaping hard link");
    /* An in-tree symlink is fine, but nothing is written through it. */
    tb_entry(&t, "sub/", '5', 0, NULL, NULL);
    tb_entry(&t, "link", '2', 0, "sub", NULL);
    tb_entry(&t, "link/through.txt", '0', 1, NULL, "x");
    expect_refused(fx, &t, NULL, -PYRO_E_INVALID, "write through symlink");
    _cleanup_free_ char *through = xasprintf("%s/d9/sub/through.txt", fx->root);
    assert_int_equal(access(through, F_OK), -1);
    /* Entry-count and size bombs stop at the caps. */
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%d", i);
        tb_entry(&t, name, '0', 0, NULL, "");
    }
    expect_refused(fx, &t, json_pack("{s:i}", "max_entries", 10), -PYRO_E_LIMIT, "entry bomb");
    tb_entry(&t, "huge.bin", '0', 2ull << 30, NULL, NULL); /* header only: refused before data */
    expect_refused(fx, &t, json_pack("{s:i}", "max_bytes", 1 << 20), -PYRO_E_LIMIT, "size bomb");
    /* A truncated archive is reported. */
    tb_entry(&t, "cut.txt", '0', 1000, NULL, NULL);
    pyro_error err = {0};
    json_t *res = NULL;
    assert_int_equal(tar_in(fx, "cut", &t, NULL, &res, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "truncated"));
    free(t.p);

    /* Nothing landed outside the root. */
    _cleanup_free_ char *parent_up = xasprintf("%s/../up.txt", fx->root);
    assert_int_equal(access(parent_up, F_OK), -1);
    assert_int_equal(access("/tmp/up2.txt", F_OK), -1);
}

static void test_in_tree_links(void **state)
{
    struct fx *fx = *state;
    struct tarbuf t = {0};
    pyro_error err = {0};
    json_t *res = NULL;
    tb_entry(&t, "./dir/", '5', 0, NULL, NULL);
    tb_entry(&t, "dir/file.txt", '0', 5, NULL, "hello");
    tb_entry(&t, "dir/same.txt", '1', 0, "dir/file.txt", NULL);
    tb_entry(&t, "dir/rel", '2', 0, "../dir/file.txt", NULL);
    tb_end(&t);
    assert_int_equal(tar_in(fx, "", &t, NULL, &res, &err), 0);
    assert_int_equal(json_get_int(res, "entries", 0), 4);
    json_decref(res);
    run("cd %s && test \"$(cat dir/same.txt)\" = hello && test \"$(stat -c %%h dir/file.txt)\" = 2 && "
        "test \"$(readlink dir/rel)\" = ../dir/file.txt",
        fx->root);
    free(t.p);
}

/* manifest: sorted, hashed, symlinks not followed, confined; file_delete:
 * one non-directory entry, never a directory, never outside. */
static void test_manifest_and_delete(void **state)
{
    struct fx *fx = *state;
    run("cd %s && mkdir -p d/e && printf abc > d/f && ln -s /etc d/out && printf '' > z", fx->root);
    pyro_error err = {0};
    json_t *res = NULL;
    json_auto_t *req = json_pack("{s:s, s:{s:s, s:s}}", "op", "manifest", "args", "root", fx->root, "path", "");
    assert_int_equal(agent_call(fx->c, req, NULL, 0, &res, NULL, T_MS, &err), 0);
    json_t *e = json_object_get(res, "entries");
    assert_int_equal(json_array_size(e), 5);
    _cleanup_free_ char *dump = json_dump(e, JSON_COMPACT);
    assert_string_equal(dump, "[[\"d\",\"dir\",493,0,\"\"],[\"d/e\",\"dir\",493,0,\"\"],"
                              "[\"d/f\",\"file\",420,3,"
                              "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"],"
                              "[\"d/out\",\"symlink\",511,0,\"/etc\"],"
                              "[\"z\",\"file\",420,0,"
                              "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"]]");
    json_decref(res);
    json_auto_t *esc = json_pack("{s:s, s:{s:s, s:s}}", "op", "manifest", "args", "root", fx->root, "path", "d/out/");
    assert_int_equal(agent_call(fx->c, esc, NULL, 0, &res, NULL, T_MS, &err), -PYRO_E_INVALID);
    const char *refused[] = {"d/e", "../x", "d/out/passwd", ""};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        json_auto_t *d = json_pack("{s:s, s:{s:s, s:s}}", "op", "file_delete", "args", "root", fx->root, "path",
                                   refused[i]);
        assert_true(agent_call(fx->c, d, NULL, 0, &res, NULL, T_MS, &err) < 0);
    }
    const char *ok[] = {"d/out", "d/f"};
    for (size_t i = 0; i < 2; i++) {
        json_auto_t *d = json_pack("{s:s, s:{s:s, s:s}}", "op", "file_delete", "args", "root", fx->root, "path", ok[i]);
        assert_int_equal(agent_call(fx->c, d, NULL, 0, &res, NULL, T_MS, &err), 0);
        assert_true(json_get_bool(res, "deleted", false));
        json_decref(res);
    }
    run("cd %s && test ! -e d/f && test ! -L d/out && test -d d/e && test -d /etc", fx->root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_in_tree_links, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_manifest_and_delete, agent_fx_setup, agent_fx_teardown),
        cmocka_unit_test_setup_teardown(test_empty_files_no_fd_leak, agent_fx_setup, agent_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
