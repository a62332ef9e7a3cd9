/* The VM artifacts' writers: the cpio "newc" archives the kernel unpacks
 * (env_cpio.c), pyro's initramfs (the agent as /init, then the modules
 * archive) and the root image (mkfs.ext4 -d). No VM is booted here. */
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
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/paths.h"
#include "base/record.h"
#include "base/spawn_capture.h"
#include "lib/env/env_cpio.h"
#include "lib/env/env_vm.h"

struct entry {
    char name[256];
    unsigned mode, nlink, rmaj, rmin;
    size_t size;
    const uint8_t *data;
};

static unsigned hex8(const uint8_t *p)
{
    char b[9];
    memcpy(b, p, 8);
    b[8] = '\0';
    return (unsigned)strtoul(b, NULL, 16);
}

/* Parses one newc entry at *off (checking the layout: magic, a
 * NUL-terminated name, 4-byte alignment of name and data). */
static void parse(const uint8_t *buf, size_t len, size_t *off, struct entry *e)
{
    assert_true(*off + 110 <= len);
    const uint8_t *h = buf + *off;
    assert_memory_equal(h, "070701", 6);
    e->mode = hex8(h + 14);
    assert_int_equal(hex8(h + 22), 0); /* uid */
    assert_int_equal(hex8(h + 30), 0); /* gid */
    e->nlink = hex8(h + 38);
    e->size = hex8(h + 54);
    e->rmaj = hex8(h + 78);
    e->rmin = hex8(h + 86);
    size_t nl = hex8(h + 94);
    assert_true(nl >= 1 && nl < sizeof(e->name));
    assert_int_equal(h[110 + nl - 1], '\0');
    memcpy(e->name, h + 110, nl);
    size_t p = *off + 110 + nl;
    p = (p + 3) & ~(size_t)3;
    e->data = buf + p;
    p += e->size;
    p = (p + 3) & ~(size_t)3;
    assert_true(p <= len);
    *off = p;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    char *data = NULL;
    pyro_error err = {0};
    assert_int_equal(read_file_at(AT_FDCWD, path, 64u << 20, &data, len, &err), 0);
    return (uint8_t *)data;
}

static char tmp[64];

static void test_cpio_layout(void **state)
{
    (void)state;
    _cleanup_free_ char *path = xasprintf("%s/a.cpio", tmp);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    struct env_cpio c;
    env_cpio_init(&c, fd);
    pyro_error err = {0};
    assert_int_equal(env_cpio_add(&c, "dev", S_IFDIR | 0755, 0, NULL, 0, &err), 0);
    assert_int_equal(env_cpio_add(&c, "dev/console", S_IFCHR | 0600, makedev(5, 1), NULL, 0, &err), 0);
    assert_int_equal(env_cpio_add(&c, "odd", S_IFREG | 0644, 0, "12345", 5, &err), 0);
    assert_int_equal(env_cpio_finish(&c, &err), 0);
    close(fd);
    size_t len;
    _cleanup_free_ uint8_t *buf = slurp(path, &len);
    assert_int_equal(len % 4, 0);
    assert_int_equal(len, c.off);
    size_t off = 0;
    struct entry e;
    parse(buf, len, &off, &e);
    assert_string_equal(e.name, "dev");
    assert_int_equal(e.mode, S_IFDIR | 0755);
    assert_int_equal(e.nlink, 1);
    parse(buf, len, &off, &e);
    assert_string_equal(e.name, "dev/console");
    assert_int_equal(e.mode, S_IFCHR | 0600);
    assert_int_equal(e.rmaj, 5);
    assert_int_equal(e.rmin, 1);
    parse(buf, len, &off, &e);
    assert_string_equal(e.name, "odd");
    assert_int_equal(e.size, 5);
    assert_memory_equal(e.data, "12345", 5);
    parse(buf, len, &off, &e);
    assert_string_equal(e.name, "TRAILER!!!");
    assert_int_equal(off, len);
}

/* The initramfs: its own archive (the mount points, /dev/console, the
 * agent as /init) and then the modules archive, byte for byte. */
static void test_initrd(void **state)
{
    (void)state;
    _cleanup_free_ char *agent = xasprintf("%s/agent", tmp);
    pyro_error err = {0};
    static const char agent_bytes[] = "\177ELF-not-really-an-agent";
    assert_int_equal(write_atomic(agent, agent_bytes, sizeof(agent_bytes), 0755, &err), 0);
    _cleanup_free_ char *dir = xasprintf("%s/build", tmp);
    assert_int_equal(mkdir(dir, 0755), 0);
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    static const char modules[] = "pretend this is the modules archive";
    assert_int_equal(write_atomic_at(dfd, VM_MODULES_FILE, modules, sizeof(modules), 0644, &err), 0);
    assert_int_equal(env_vm_write_initrd(dfd, agent, dfd, &err), 0);
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, VM_INITRD_FILE);
    size_t len;
    _cleanup_free_ uint8_t *buf = slurp(path, &len);
    size_t off = 0;
    struct entry e;
    bool console = false, init = false;
    for (;;) {
        parse(buf, len, &off, &e);
        if (!strcmp(e.name, "TRAILER!!!"))
            break;
        if (!strcmp(e.name, "dev/console")) {
            console = e.mode == (S_IFCHR | 0600) && e.rmaj == 5 && e.rmin == 1;
        } else if (!strcmp(e.name, "init")) {
            init = e.mode == (S_IFREG | 0755) && e.size == sizeof(agent_bytes) && !memcmp(e.data, agent_bytes, e.size);
        }
    }
    assert_true(console);
    assert_true(init);
    assert_int_equal(len - off, sizeof(modules));
    assert_memory_equal(buf + off, modules, sizeof(modules));
}

/* The root image is an ext4 file system (its superblock magic 0xEF53 at
 * byte 1080) made from the tree. */
static void test_image(void **state)
{
    (void)state;
    _cleanup_free_ char *mkfs = NULL;
    if (proc_find_program("mkfs.ext4", &mkfs, NULL) < 0) {
        fprintf(stderr, "note: mkfs.ext4 missing (e2fsprogs): the root image is not checked\n");
        return;
    }
    _cleanup_free_ char *tree = xasprintf("%s/tree", tmp);
    _cleanup_free_ char *etc = xasprintf("%s/tree/etc", tmp);
    pyro_error err = {0};
    assert_int_equal(mkdir_p(etc, 0755, &err), 0);
    _cleanup_free_ char *f = xasprintf("%s/hostname", etc);
    assert_int_equal(write_atomic(f, "x\n", 2, 0644, &err), 0);
    _cleanup_free_ char *img = xasprintf("%s/root.ext4", tmp);
    assert_int_equal(env_vm_write_image(tree, img, &err), 0);
    int fd = open(img, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    uint8_t magic[2];
    assert_int_equal(pread(fd, magic, 2, 1080), 2);
    close(fd);
    assert_int_equal(magic[0], 0x53);
    assert_int_equal(magic[1], 0xef);
    /* A tree that does not exist is an error naming it. */
    _cleanup_free_ char *none = xasprintf("%s/none", tmp);
    assert_true(env_vm_write_image(none, img, &err) < 0);
}

/* A tree shifted into an id range (as the sandbox backend keeps it) gives
 * an image with the unshifted ids: root's files are 0:0 in the guest. The
 * tree sits below a directory closed to the range (mkdtemp's 0700). */
static void test_image_shifted(void **state)
{
    (void)state;
    _cleanup_free_ char *mkfs = NULL, *debugfs = NULL;
    if (geteuid() != 0 || proc_find_program("mkfs.ext4", &mkfs, NULL) < 0 ||
        proc_find_program("debugfs", &debugfs, NULL) < 0) {
        fprintf(stderr, "note: needs root, mkfs.ext4 and debugfs: the shifted image is not checked\n");
        return;
    }
    const uid_t base = 100000;
    _cleanup_free_ char *tree = xasprintf("%s/shifted", tmp);
    _cleanup_free_ char *etc = xasprintf("%s/etc", tree);
    _cleanup_free_ char *f = xasprintf("%s/passwd", etc);
    _cleanup_free_ char *g = xasprintf("%s/group-owned", etc);
    pyro_error err = {0};
    assert_int_equal(mkdir_p(etc, 0755, &err), 0);
    assert_int_equal(write_atomic(f, "root:x:0:0::/root:/bin/sh\n", 27, 0644, &err), 0);
    assert_int_equal(write_atomic(g, "x", 1, 0640, &err), 0);
    assert_int_equal(lchown(tree, base, base), 0);
    assert_int_equal(lchown(etc, base, base), 0);
    assert_int_equal(lchown(f, base, base), 0);
    assert_int_equal(lchown(g, base, base + 42), 0);
    _cleanup_free_ char *img = xasprintf("%s/shifted.ext4", tmp);
    if (env_vm_write_image(tree, img, &err) < 0)
        fail_msg("%s", err.message);
    struct stat st;
    assert_int_equal(stat(img, &st), 0);
    assert_int_equal(st.st_uid, 0); /* handed back */
    char *const argv[] = {debugfs, "-R", "stat /etc/passwd", img, NULL};
    _cleanup_free_ char *out = NULL;
    assert_int_equal(proc_run(argv, 30000, &out, &err), 0);
    assert_non_null(strstr(out, "User:     0   Group:     0"));
    char *const argv2[] = {debugfs, "-R", "stat /etc/group-owned", img, NULL};
    _cleanup_free_ char *out2 = NULL;
    assert_int_equal(proc_run(argv2, 30000, &out2, &err), 0);
    assert_non_null(strstr(out2, "User:     0   Group:    42"));
}

int main(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/pyro-test-env-vm.XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpio_layout),
        cmocka_unit_test(test_initrd),
        cmocka_unit_test(test_image),
        cmocka_unit_test(test_image_shifted),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    (void)rm_rf(tmp, NULL);
    return r;
}
