/* The monitor's console sink (src/backend/monitor_console.c): init gets the
 * write end of a pipe, never console.log; the monitor resets the file to an
 * empty 0600 regular file, refuses links and special files, and keeps at
 * most MONITOR_CONSOLE_MAX bytes of output, then a note. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/monitor_impl.h"
#include "base/cleanup.h"

static char dir[] = "/tmp/pyro-test-console.XXXXXX";

static void monitor_init(struct monitor *m, struct monitor_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->dir = dir;
    memset(m, 0, sizeof(*m));
    m->cfg = cfg;
    m->console_rd = m->console_fd = -1;
}

static char *log_path(void)
{
    return xasprintf("%s/console.log", dir);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = xmalloc(8u << 20);
    *len = fread(buf, 1, (8u << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Drains until EOF (the writer is gone). */
static void drain_all(struct monitor *m)
{
    for (int i = 0; m->console_rd >= 0 && i < 100000; i++) {
        monitor_console_drain(m);
        if (m->console_rd >= 0)
            usleep(1000);
    }
    assert_int_equal(m->console_rd, -1);
}

static void test_reset_and_pipe(void **state)
{
    _cleanup_free_ char *p = log_path();
    /* What an older pyro may have left: a setuid file with old content. */
    int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "old boot\n", 9), 9);
    assert_int_equal(fchmod(fd, 04755), 0);
    close(fd);

    struct monitor m;
    struct monitor_config cfg;
    monitor_init(&m, &cfg);
    int wr = -1;
    pyro_error err = {0};
    assert_int_equal(monitor_console_open(&m, &wr, &err), 0);
    struct stat st;
    assert_int_equal(fstat(wr, &st), 0);
    assert_true(S_ISFIFO(st.st_mode)); /* init gets a pipe, not the file */
    assert_true(fcntl(wr, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 0);

    assert_int_equal(write(wr, "pyro-agent: mount /sys: EPERM\n", 30), 30);
    close(wr);
    drain_all(&m);
    monitor_console_close(&m);
    size_t len;
    _cleanup_free_ char *text = slurp(p, &len);
    assert_string_equal(text, "pyro-agent: mount /sys: EPERM\n");
}

static void test_refuses_links_and_fifos(void **state)
{
    _cleanup_free_ char *p = log_path();
    _cleanup_free_ char *target = xasprintf("%s/target", dir);
    struct monitor m;
    struct monitor_config cfg;
    pyro_error err = {0};
    int wr = -1;

    unlink(p);
    assert_int_equal(symlink(target, p), 0);
    monitor_init(&m, &cfg);
    assert_true(monitor_console_open(&m, &wr, &err) < 0);
    assert_int_equal(wr, -1);
    assert_int_equal(access(target, F_OK), -1); /* nothing created through the link */
    assert_int_equal(unlink(p), 0);

    assert_int_equal(mkfifo(p, 0600), 0);
    monitor_init(&m, &cfg);
    assert_true(monitor_console_open(&m, &wr, &err) < 0); /* no reader: ENXIO, never blocks */
    assert_int_equal(wr, -1);
    assert_int_equal(unlink(p), 0);
}

static void test_cap(void **state)
{
    _cleanup_free_ char *p = log_path();
    struct monitor m;
    struct monitor_config cfg;
    monitor_init(&m, &cfg);
    int wr = -1;
    pyro_error err = {0};
    assert_int_equal(monitor_console_open(&m, &wr, &err), 0);
    const size_t total = 3u * MONITOR_CONSOLE_MAX + 123;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(m.console_rd);
        char buf[4096];
        memset(buf, 'x', sizeof(buf));
        for (size_t done = 0; done < total;) {
            size_t n = total - done < sizeof(buf) ? total - done : sizeof(buf);
            ssize_t w = write(wr, buf, n);
            if (w <= 0)
                _exit(1);
            done += (size_t)w;
        }
        _exit(0);
    }
    close(wr);
    drain_all(&m);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0); /* the writer never blocked for good */
    assert_int_equal(m.console_dropped, total - MONITOR_CONSOLE_MAX);
    monitor_console_close(&m);
    size_t len;
    _cleanup_free_ char *text = slurp(p, &len);
    assert_true(len > MONITOR_CONSOLE_MAX);
    assert_true(len < MONITOR_CONSOLE_MAX + 256);
    assert_int_equal(strspn(text, "x"), MONITOR_CONSOLE_MAX);
    assert_non_null(strstr(text + MONITOR_CONSOLE_MAX, "console output past 1048576 bytes is dropped"));
    _cleanup_free_ char *note = xasprintf("%llu bytes of console output dropped",
                                          (unsigned long long)(total - MONITOR_CONSOLE_MAX));
    assert_non_null(strstr(text + MONITOR_CONSOLE_MAX, note));
}

/* The tail for error messages: the last three non-empty lines, printable
 * ASCII only, joined with " | "; nothing when there is no log. */
static void test_tail(void **state)
{
    (void)state;
    struct monitor m;
    struct monitor_config cfg;
    monitor_init(&m, &cfg);
    _cleanup_free_ char *p = log_path();
    unlink(p);
    char tail[MONITOR_CONSOLE_TAIL + 16];
    monitor_console_tail(&m, tail, sizeof(tail));
    assert_string_equal(tail, "");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("early\nline one\nline\033[31m two\r\n\nqemu: linux kernel too old\n\n", f);
    fclose(f);
    monitor_console_tail(&m, tail, sizeof(tail));
    assert_string_equal(tail, "line one | line[31m two | qemu: linux kernel too old");
    /* A long line is cut to the buffer. */
    f = fopen(p, "w");
    for (int i = 0; i < 2000; i++)
        fputc('x', f);
    fclose(f);
    char small[32];
    monitor_console_tail(&m, small, sizeof(small));
    assert_true(strlen(small) < sizeof(small));
    assert_true(strlen(small) > 0);
    unlink(p);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_and_pipe),
        cmocka_unit_test(test_refuses_links_and_fifos),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_tail),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    _cleanup_free_ char *cmd = xasprintf("rm -rf %s", dir);
    (void)!system(cmd);
    return r;
}
