/* Core conventions: errors, UTF-8 policy, records and atomic writes, locks,
 * ids, time, directory resolution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/id.h"
#include "base/json.h"
#include "base/lock.h"
#include "base/log.h"
#include "base/paths.h"
#include "base/record.h"
#include "base/timeutil.h"

static char tmpdir[256];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pyro-test-core.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    return rm_rf(tmpdir, NULL);
}

static void test_err(void **state)
{
    pyro_error err = {0};
    assert_int_equal(err_set(&err, -PYRO_E_INVALID, "bad %s", "thing"), -PYRO_E_INVALID);
    assert_string_equal(err.message, "bad thing");
    assert_int_equal(err_prefix(&err, "workspace %s", "ab"), -PYRO_E_INVALID);
    assert_string_equal(err.message, "workspace ab: bad thing");
    assert_int_equal(err_errno(&err, ENOENT, "open %s", "x"), -ENOENT);
    assert_string_equal(err.message, "open x: No such file or directory");
    assert_string_equal(pyro_error_name(-PYRO_E_NOT_FOUND), "not_found");
    assert_string_equal(pyro_error_name(-ENOENT), "enoent");
    assert_true(pyro_error_is_usage(-PYRO_E_INVALID));
    assert_false(pyro_error_is_usage(-EIO));
    /* a NULL error object is allowed everywhere */
    assert_int_equal(err_set(NULL, -PYRO_E_LIMIT, "x"), -PYRO_E_LIMIT);
    /* long context is cut, never overflowed */
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&err, -EIO, "%s", big);
    err_prefix(&err, "%s", big);
    assert_true(strlen(err.message) < sizeof(err.message));
}

static void test_utf8(void **state)
{
    size_t rep, len;
    _cleanup_free_ char *a = utf8_sanitize("h\xc3\xa9llo", 6, &len, &rep);
    assert_string_equal(a, "h\xc3\xa9llo");
    assert_int_equal(rep, 0);
    /* lone continuation byte, truncated sequence, overlong, surrogate, > U+10FFFF */
    _cleanup_free_ char *b = utf8_sanitize("a\x80"
                                           "b\xe2\x82"
                                           "c\xc0\xaf"
                                           "d\xed\xa0\x80"
                                           "e\xf4\x90\x80\x80",
                                           17, &len, &rep);
    assert_true(utf8_valid(b, len));
    assert_string_equal(b, "a\xef\xbf\xbd"
                           "b\xef\xbf\xbd"
                           "c\xef\xbf\xbd\xef\xbf\xbd"
                           "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                           "e\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    /* NUL is kept and encoded as \u0000 */
    json_auto_t *s = json_bytes("x\0y\xff", 4, &rep);
    assert_int_equal(rep, 1);
    _cleanup_free_ char *t = json_dump(s, 0);
    assert_string_equal(t, "\"x\\u0000y\xef\xbf\xbd\"");
    assert_false(utf8_valid("\xff", 1));
    assert_true(utf8_valid("\xf0\x9f\x94\xa5", 4));
}

static void test_record_roundtrip(void **state)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/rec.json", tmpdir);
    json_auto_t *rec = json_pack("{s:i, s:s, s:I}", "schema_version", 1, "name", "w\xc3\xa9", "big",
                                 (json_int_t)9007199254740993LL);
    pyro_error err = {0};
    assert_int_equal(record_save(path, rec, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    json_auto_t *back = NULL;
    assert_int_equal(record_load(path, &back, &err), 0);
    assert_true(json_equal(rec, back));
    assert_int_equal(json_get_int(back, "big", 0), 9007199254740993LL);
    /* no temp files left behind */
    _cleanup_closedir_ DIR *d = opendir(tmpdir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")))
            n++;
    assert_int_equal(n, 1);
}

static void load_fails(const char *text, size_t len, const char *needle)
{
    json_t *out = NULL;
    pyro_error err = {0};
    assert_int_equal(record_parse(text, len, &out, &err), -PYRO_E_CORRUPT);
    assert_null(out);
    if (!strstr(err.message, needle))
        fail_msg("'%s' lacks '%s'", err.message, needle);
}

static void test_record_rejects(void **state)
{
    load_fails("[1]", 3, "not a JSON object");
    load_fails("{\"a\":1,\"a\":2}", 13, "duplicate");
    load_fails("{\"a\":", 5, "invalid JSON");
    load_fails("{\"a\":\"\xff\"}", 9, "invalid JSON");
    load_fails("{\"schema_version\":0}", 20, "schema_version");
    load_fails("{\"schema_version\":\"1\"}", 22, "schema_version");
    load_fails("", 0, "invalid JSON");
    char path[512];
    snprintf(path, sizeof(path), "%s/link.json", tmpdir);
    assert_int_equal(symlink("/etc/hostname", path), 0);
    json_t *out = NULL;
    pyro_error err = {0};
    assert_true(record_load(path, &out, &err) < 0); /* final symlink not followed */
    snprintf(path, sizeof(path), "%s/missing.json", tmpdir);
    assert_int_equal(record_load(path, &out, &err), -ENOENT);
}

static void test_atomic_write_replaces(void **state)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/f", tmpdir);
    pyro_error err = {0};
    assert_int_equal(write_atomic(path, "one", 3, 0644, &err), 0);
    assert_int_equal(write_atomic(path, "two!", 4, 0644, &err), 0);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    assert_int_equal(read_file_at(AT_FDCWD, path, 100, &buf, &len, &err), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "two!", 4);
    free(TAKE_PTR(buf));
    assert_int_equal(read_file_at(AT_FDCWD, path, 3, &buf, &len, &err), -PYRO_E_CORRUPT);
    assert_int_equal(write_atomic("/nonexistent-dir/x", "a", 1, 0600, &err), -ENOENT);
}

static void test_lock(void **state)
{
    pyro_error err = {0};
    int fd = dirlock(tmpdir, PYRO_LOCK_EXCLUSIVE, 0, &err);
    assert_true(fd >= 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* another process: busy while held, free once the holder is gone */
        pyro_error e2 = {0};
        int r = dirlock(tmpdir, PYRO_LOCK_EXCLUSIVE, 50, &e2);
        _exit(r == -PYRO_E_BUSY && strstr(e2.message, "held") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* a holder killed with SIGKILL releases the lock */
    close(fd);
    pid = fork();
    if (pid == 0) {
        dirlock(tmpdir, PYRO_LOCK_EXCLUSIVE, -1, NULL);
        pause();
        _exit(0);
    }
    usleep(100000);
    assert_int_equal(dirlock(tmpdir, PYRO_LOCK_EXCLUSIVE, 0, &err), -PYRO_E_BUSY);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fd = dirlock(tmpdir, PYRO_LOCK_EXCLUSIVE, 1000, &err);
    assert_true(fd >= 0);
    close(fd);
    /* shared locks coexist */
    int s1 = dirlock(tmpdir, PYRO_LOCK_SHARED, 0, &err);
    int s2 = dirlock(tmpdir, PYRO_LOCK_SHARED, 0, &err);
    assert_true(s1 >= 0 && s2 >= 0);
    close(s1);
    close(s2);
}

static void test_ids(void **state)
{
    char a[PYRO_ID_LEN + 1], b[PYRO_ID_LEN + 1];
    id_random(a, sizeof(a));
    id_random(b, sizeof(b));
    assert_int_equal(strlen(a), PYRO_ID_LEN);
    assert_string_not_equal(a, b);
    assert_true(id_valid(a));
    for (const char *c = a; *c; c++)
        assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz0123456789", *c));
    assert_false(id_valid(""));
    assert_false(id_valid("../x"));
    assert_false(id_valid("-x"));
    assert_false(id_valid("A"));
    assert_false(id_valid("a/b"));
}

static void test_time(void **state)
{
    char buf[PYRO_TIME_ISO_LEN];
    time_iso(buf, 1795671987123LL);
    assert_string_equal(buf, "2026-11-26T05:46:27.123Z");
    assert_int_equal(time_parse_iso(buf), 1795671987123LL);
    assert_int_equal(time_parse_iso("2026-11-26T05:46:27Z"), 1795671987000LL);
    assert_int_equal(time_parse_iso("2026-13-26T05:46:27Z"), -1);
    assert_int_equal(time_parse_iso("garbage"), -1);
    int64_t m1 = time_mono_ns(), m2 = time_mono_ns();
    assert_true(m2 >= m1);
    assert_true(time_wall_ms() > 1700000000000LL);
}

static void test_dirs(void **state)
{
    _cleanup_free_ char *s = NULL, *c = NULL;
    pyro_error err = {0};
    setenv("PYRO_HOME", "/x/state", 1);
    assert_int_equal(paths_state_dir_resolve(&s, &err), 0);
    assert_string_equal(s, "/x/state");
    free(TAKE_PTR(s));
    unsetenv("PYRO_HOME");
    setenv("XDG_STATE_HOME", "/x/xdg", 1);
    assert_int_equal(paths_state_dir_resolve(&s, &err), 0);
    assert_string_equal(s, "/x/xdg/pyro");
    free(TAKE_PTR(s));
    setenv("XDG_STATE_HOME", "relative", 1); /* ignored, as XDG says */
    setenv("HOME", "/home/u", 1);
    assert_int_equal(paths_state_dir_resolve(&s, &err), 0);
    assert_string_equal(s, "/home/u/.local/state/pyro");
    setenv("PYRO_HOME", "rel", 1);
    free(TAKE_PTR(s));
    assert_int_equal(paths_state_dir_resolve(&s, &err), -PYRO_E_INVALID);
    unsetenv("PYRO_HOME");
    unsetenv("PYRO_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "/c", 1);
    assert_int_equal(paths_cache_dir_resolve(&c, &err), 0);
    assert_string_equal(c, "/c/pyro");
    free(TAKE_PTR(c));
    unsetenv("XDG_CACHE_HOME");
    assert_int_equal(paths_cache_dir_resolve(&c, &err), 0);
    assert_string_equal(c, "/home/u/.cache/pyro");

    char deep[512];
    snprintf(deep, sizeof(deep), "%s/a/b/c", tmpdir);
    assert_int_equal(mkdir_p(deep, 0700, &err), 0);
    snprintf(deep, sizeof(deep), "%s/a/b/c/f", tmpdir);
    assert_int_equal(write_atomic(deep, "x", 1, 0600, &err), 0);
    snprintf(deep, sizeof(deep), "%s/a/b/link", tmpdir);
    assert_int_equal(symlink("/etc", deep), 0);
    snprintf(deep, sizeof(deep), "%s/a", tmpdir);
    assert_int_equal(rm_rf(deep, &err), 0);
    assert_int_equal(access(deep, F_OK), -1);
    assert_int_equal(access("/etc/hostname", F_OK), 0); /* the link target survives */
    assert_int_equal(rm_rf(deep, &err), 0);             /* idempotent */
}

/* A tree far deeper than the descriptors the process may hold (what code in
 * a sandbox can build to make itself undeletable) is removed all the same,
 * with one descriptor at a time and a short error message when it fails. */
static void test_rm_rf_deep(void **state)
{
    pyro_error err = {0};
    char top[512];
    snprintf(top, sizeof(top), "%s/deep", tmpdir);
    assert_int_equal(mkdir(top, 0700), 0);
    int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(mkdirat(fd, "d", 0700), 0);
        if (i % 500 == 0) {
            int f = openat(fd, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
            assert_true(f >= 0);
            close(f);
        }
        int next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(next >= 0);
        close(fd);
        fd = next;
    }
    close(fd);
    struct rlimit old, low = {.rlim_cur = 24, .rlim_max = 0};
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low.rlim_max = old.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int r = rm_rf(top, &err);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    if (r < 0)
        fail_msg("rm_rf: %s", err.message);
    assert_int_equal(access(top, F_OK), -1);
}

static int log_count;
static void count_sink(void *ud, enum log_level level, const char *msg)
{
    log_count++;
}

static void test_log(void **state)
{
    log_set_sink(count_sink, NULL);
    log_set_level(PYRO_LOG_WARN);
    log_debug("hidden %d", 1);
    assert_int_equal(log_count, 0);
    log_set_level(PYRO_LOG_DEBUG);
    log_debug("shown");
    assert_int_equal(log_count, 1);
    assert_int_equal(log_level_parse("trace"), PYRO_LOG_TRACE);
    assert_int_equal(log_level_parse("loud"), -1);
    log_set_sink(NULL, NULL);
    log_set_level(PYRO_LOG_WARN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test_setup_teardown(test_record_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_write_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_time),
        cmocka_unit_test_setup_teardown(test_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rm_rf_deep, setup, teardown),
        cmocka_unit_test(test_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
