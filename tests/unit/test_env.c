/* Environments: catalog, apt source parsing, dpkg status, tree digests,
 * install verification, artifacts and prune, on small trees built here
 * (the real mmdebstrap builds are in tests/integration/test_env*.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/paths.h"
#include "base/record.h"
#include "lib/contract/contract.h"
#include "lib/contract/ctx.h"
#include "lib/env/env.h"

static char tmp[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/pyro-test-env.XXXXXX");
    assert_non_null(mkdtemp(tmp));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pyro_error e = {0};
    rm_rf(tmp, &e);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_catalog(void **state)
{
    (void)state;
    int defaults = 0;
    char buf[ENV_NAME_MAX];
    for (const struct env_recipe *r = env_catalog; r->name; r++) {
        assert_true(env_dir_name(r->name, buf, sizeof(buf)));
        assert_null(strchr(buf, ':'));
        assert_non_null(r->version);
        defaults += r->is_default;
        for (const struct env_recipe *q = r + 1; q->name; q++)
            assert_string_not_equal(r->name, q->name);
    }
    assert_int_equal(defaults, 1);
    const struct env_recipe *r;
    assert_int_equal(env_recipe_find(ENV_DEFAULT_NAME, &r, NULL), 0);
    assert_true(r->is_default);
    assert_int_equal(env_recipe_find("debian:12-base", &r, NULL), 0);
    assert_true(env_dir_name(r->name, buf, sizeof(buf)));
    assert_string_equal(buf, "debian_12-base");
    pyro_error err = {0};
    assert_int_equal(env_recipe_find("ubuntu:24.04", &r, &err), -PYRO_E_NOT_FOUND);
    assert_non_null(strstr(err.message, "ubuntu:24.04"));
    assert_non_null(strstr(err.message, "debian:12, debian:12-base, debian:12-build"));
    assert_false(env_dir_name("../etc", buf, sizeof(buf)));
    assert_false(env_dir_name("a/b", buf, sizeof(buf)));
    assert_false(env_dir_name("", buf, sizeof(buf)));
    assert_false(env_dir_name("Debian", buf, sizeof(buf)));
}

static void test_sources(void **state)
{
    (void)state;
    const char *deb822 = "Types: deb\n# comment\nURIs: http://deb.debian.org/debian\n"
                         "Suites: bookworm bookworm-updates\nComponents: main contrib\n"
                         "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
                         "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
                         "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\n"
                         "Types: deb\nURIs: http://trixie.example/debian\nSuites: trixie bookworm-backportsx\n\n"
                         "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n";
    struct env_sources s = {0};
    assert_int_equal(env_sources_parse(deb822, true, "bookworm", &s), 3);
    assert_string_equal(s.lines[0], "deb http://deb.debian.org/debian bookworm main");
    assert_string_equal(s.lines[1], "deb http://deb.debian.org/debian bookworm-updates main");
    assert_string_equal(s.lines[2], "deb http://deb.debian.org/debian-security bookworm-security main");
    assert_string_equal(s.primary, "http://deb.debian.org/debian");
    env_sources_free(&s);

    const char *list = "# deb http://commented/debian bookworm main\n"
                       "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
                       "deb-src http://mirror.example/debian bookworm main\n"
                       "deb http://mirror.example/debian bullseye main\n";
    assert_int_equal(env_sources_parse(list, false, "bookworm", &s), 1);
    assert_string_equal(s.lines[0], "deb http://mirror.example/debian bookworm main");
    env_sources_free(&s);

    const struct env_recipe *r;
    assert_int_equal(env_recipe_find("debian:12-base", &r, NULL), 0);
    assert_int_equal(env_sources_resolve(r, "http://10.0.0.1/debian", &s, NULL), 0);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.lines[0], "deb http://10.0.0.1/debian bookworm main");
    assert_string_equal(s.origin, "--mirror");
    env_sources_free(&s);
    setenv("PYRO_DEBIAN_MIRROR", "https://env.example/debian", 1);
    assert_int_equal(env_sources_resolve(r, NULL, &s, NULL), 0);
    assert_string_equal(s.primary, "https://env.example/debian");
    assert_string_equal(s.origin, "PYRO_DEBIAN_MIRROR");
    env_sources_free(&s);
    setenv("PYRO_DEBIAN_MIRROR", "bogus", 1);
    pyro_error err = {0};
    assert_int_equal(env_sources_resolve(r, NULL, &s, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "PYRO_DEBIAN_MIRROR"));
    unsetenv("PYRO_DEBIAN_MIRROR");

    assert_int_equal(env_mirror_check("file:///srv/mirror", NULL), 0);
    assert_int_equal(env_mirror_check("ftp://x/debian", NULL), -PYRO_E_INVALID);
    assert_int_equal(env_mirror_check("http://x/debian bookworm", NULL), -PYRO_E_INVALID);
    assert_int_equal(env_mirror_check("http://x/[trusted=yes]", NULL), -PYRO_E_INVALID);
    assert_int_equal(env_mirror_check("", NULL), -PYRO_E_INVALID);
}

static void test_dpkg_status(void **state)
{
    (void)state;
    const char *st = "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13\n"
                     "Description: x\n more text\n\n"
                     "Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n"
                     "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b7\nArchitecture: amd64";
    json_auto_t *p = NULL;
    assert_int_equal(env_dpkg_packages(st, strlen(st), &p, NULL), 0);
    assert_int_equal(json_array_size(p), 2);
    assert_string_equal(json_get_str(json_array_get(p, 0), "name", ""), "bash");
    assert_string_equal(json_get_str(json_array_get(p, 0), "version", ""), "5.2.15-2+b7");
    assert_string_equal(json_get_str(json_array_get(p, 1), "version", ""), "1:1.2.13");
}

/* A small rootfs: files, a symlink, a subdirectory. */
static void make_tree(const char *root)
{
    char p[512];
    assert_int_equal(mkdir(root, 0755), 0);
    snprintf(p, sizeof(p), "%s/etc", root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/etc/hostname", root);
    write_file(p, "pyro\n");
    snprintf(p, sizeof(p), "%s/bin", root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/bin/sh", root);
    write_file(p, "#!/bin/true\n");
    chmod(p, 0755);
    snprintf(p, sizeof(p), "%s/sh", root);
    assert_int_equal(symlink("bin/sh", p), 0);
}

static void test_tree_digest(void **state)
{
    (void)state;
    char root[300], p[400];
    snprintf(root, sizeof(root), "%s/t", tmp);
    make_tree(root);
    struct env_tree_digest a, b;
    assert_int_equal(env_tree_digest(AT_FDCWD, root, true, &a, NULL), 0);
    assert_int_equal(a.entries, 5);
    assert_int_equal(a.bytes, 5 + 12);
    assert_int_equal(env_tree_digest(AT_FDCWD, root, true, &b, NULL), 0);
    assert_string_equal(a.full, b.full);
    assert_string_equal(a.meta, b.meta);

    /* Same size, other content: only the full digest sees it. */
    snprintf(p, sizeof(p), "%s/etc/hostname", root);
    write_file(p, "PYRO\n");
    assert_int_equal(env_tree_digest(AT_FDCWD, root, true, &b, NULL), 0);
    assert_string_equal(a.meta, b.meta);
    assert_string_not_equal(a.full, b.full);
    write_file(p, "pyro\n");

    chmod(p, 0600);
    assert_int_equal(env_tree_digest(AT_FDCWD, root, false, &b, NULL), 0);
    assert_string_not_equal(a.meta, b.meta);
    assert_string_equal(b.full, "");
    chmod(p, 0644);

    snprintf(p, sizeof(p), "%s/sh", root);
    unlink(p);
    assert_int_equal(symlink("bin/sg", p), 0);
    assert_int_equal(env_tree_digest(AT_FDCWD, root, false, &b, NULL), 0);
    assert_string_not_equal(a.meta, b.meta);
    unlink(p);
    assert_int_equal(symlink("bin/sh", p), 0);

    assert_int_equal(env_tree_digest(AT_FDCWD, root, true, &b, NULL), 0);
    assert_string_equal(a.full, b.full);
    snprintf(p, sizeof(p), "%s/etc/new", root);
    write_file(p, "");
    assert_int_equal(env_tree_digest(AT_FDCWD, root, true, &b, NULL), 0);
    assert_int_equal(b.entries, 6);
    assert_string_not_equal(a.meta, b.meta);
}

/* A fake install of r below ctx's cache, as a pull would leave it. */
static void make_install(struct pyro_ctx *ctx, const struct env_recipe *r, const char *version)
{
    _cleanup_free_ char *dir = env_dir_path(ctx, r);
    _cleanup_free_ char *inst = xasprintf("%s/%s", dir, version);
    assert_int_equal(mkdir_p(inst, 0755, NULL), 0);
    _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", inst);
    make_tree(rootfs);
    int fd = open(inst, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    json_t *art = NULL;
    assert_int_equal(env_artifact_describe(fd, "rootfs", "rootfs-tree", "rootfs", &art, NULL), 0);
    json_auto_t *m = json_pack("{s:i, s:s, s:s, s:[], s:I, s:I, s:[o]}", "schema_version", 1, "name", r->name,
                               "recipe_version", version, "packages", "size_bytes",
                               (json_int_t)json_get_int(art, "size", 0), "package_count", (json_int_t)0, "artifacts",
                               art);
    assert_int_equal(record_save_at(fd, "manifest.json", m, NULL), 0);
    close(fd);
}

static struct pyro_ctx *test_ctx(void)
{
    struct pyro_ctx *ctx = xcalloc(1, sizeof(*ctx));
    ctx->cache_dir = xasprintf("%s/cache", tmp);
    ctx->state_dir = xasprintf("%s/state", tmp);
    return ctx;
}

static void test_install_verify(void **state)
{
    (void)state;
    struct pyro_ctx *ctx = test_ctx();
    const struct env_recipe *r;
    assert_int_equal(env_recipe_find("debian:12-base", &r, NULL), 0);
    _cleanup_free_ char *inst = env_install_path(ctx, r);
    pyro_error err = {0};
    assert_int_equal(env_install_verify(inst, r, ENV_VERIFY_FULL, NULL, &err), -ENOENT);
    make_install(ctx, r, r->version);
    assert_int_equal(env_install_verify(inst, r, ENV_VERIFY_QUICK, NULL, NULL), 0);
    assert_int_equal(env_install_verify(inst, r, ENV_VERIFY_FULL, NULL, NULL), 0);

    /* Corrupt one byte: the quick check cannot see it, the full one does. */
    _cleanup_free_ char *f = xasprintf("%s/rootfs/bin/sh", inst);
    write_file(f, "#!/bin/fals\n");
    assert_int_equal(env_install_verify(inst, r, ENV_VERIFY_QUICK, NULL, NULL), 0);
    assert_int_equal(env_install_verify(inst, r, ENV_VERIFY_FULL, NULL, &err), -PYRO_E_CORRUPT);
    assert_non_null(strstr(err.message, "content digest"));
    write_file(f, "#!/bin/true\n");

    /* A missing file is seen by both. */
    _cleanup_free_ char *h = xasprintf("%s/rootfs/etc/hostname", inst);
    unlink(h);
    assert_int_equal(env_install_verify(inst, r, ENV_VERIFY_QUICK, NULL, &err), -PYRO_E_CORRUPT);
    write_file(h, "pyro\n");
    assert_int_equal(env_install_verify(inst, r, ENV_VERIFY_FULL, NULL, NULL), 0);

    /* Another recipe's manifest, or none at all, is invalid. */
    const struct env_recipe *other;
    assert_int_equal(env_recipe_find("debian:12", &other, NULL), 0);
    assert_int_equal(env_install_verify(inst, other, ENV_VERIFY_QUICK, NULL, &err), -PYRO_E_CORRUPT);
    _cleanup_free_ char *m = xasprintf("%s/manifest.json", inst);
    unlink(m);
    assert_int_equal(env_install_verify(inst, r, ENV_VERIFY_QUICK, NULL, &err), -PYRO_E_CORRUPT);
    pyro_ctx_free(ctx);
}

/* An install of name with a second artifact, disk.img holding content. */
static void install_with_disk(struct pyro_ctx *ctx, const char *name, const char *content, const struct env_recipe **r,
                              char **inst, char **disk)
{
    assert_int_equal(env_recipe_find(name, r, NULL), 0);
    make_install(ctx, *r, (*r)->version);
    *inst = env_install_path(ctx, *r);
    *disk = xasprintf("%s/disk.img", *inst);
    write_file(*disk, content);
    assert_int_equal(env_install_add_artifact(ctx, (*r)->name, "disk", "disk-image", "disk.img", NULL), 0);
}

/* FULL_STAMPED: hashes once and records the stamp, then trusts it until a
 * change time moves, in the rootfs, a file artifact or the manifest; a
 * forged or broken stamp record only costs a hash. */
static void test_install_stamp(void **state)
{
    (void)state;
    struct pyro_ctx *ctx = test_ctx();
    const struct env_recipe *r;
    _cleanup_free_ char *inst = NULL, *disk = NULL;
    install_with_disk(ctx, "debian:12-base", "an image", &r, &inst, &disk);
    pyro_error err = {0};
    _cleanup_free_ char *rec = xasprintf("%s/%s", inst, ENV_STAMP_NAME);
    bool unchanged = true;
    assert_int_equal(env_install_verify_stamped(inst, r, ENV_VERIFY_FULL_STAMPED, NULL, &unchanged, NULL), 0);
    assert_false(unchanged);
    assert_int_equal(access(rec, F_OK), 0);
    assert_int_equal(env_install_verify_stamped(inst, r, ENV_VERIFY_FULL_STAMPED, NULL, &unchanged, NULL), 0);
    assert_true(unchanged);
    /* A plain FULL pass always hashes and never reports a skip. */
    assert_int_equal(env_install_verify_stamped(inst, r, ENV_VERIFY_FULL, NULL, &unchanged, NULL), 0);
    assert_false(unchanged);

    /* Same size, same modification time, other bytes: the change time
     * moved, so the content is hashed and the corruption found. */
    _cleanup_free_ char *f = xasprintf("%s/rootfs/bin/sh", inst);
    struct stat st;
    assert_int_equal(stat(f, &st), 0);
    write_file(f, "#!/bin/fals\n");
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, f, times, 0), 0);
    assert_int_equal(env_install_verify_stamped(inst, r, ENV_VERIFY_FULL_STAMPED, NULL, &unchanged, &err),
                     -PYRO_E_CORRUPT);
    assert_false(unchanged);
    assert_non_null(strstr(err.message, "content digest"));
    write_file(f, "#!/bin/true\n");
    assert_int_equal(env_install_verify_stamped(inst, r, ENV_VERIFY_FULL_STAMPED, NULL, &unchanged, NULL), 0);
    assert_false(unchanged);

    /* A file artifact and the manifest count too. */
    write_file(disk, "an imagE");
    assert_int_equal(env_install_verify_stamped(inst, r, ENV_VERIFY_FULL_STAMPED, NULL, &unchanged, &err),
                     -PYRO_E_CORRUPT);
    write_file(disk, "an image");
    assert_int_equal(env_install_verify_stamped(inst, r, ENV_VERIFY_FULL_STAMPED, NULL, &unchanged, NULL), 0);
    assert_false(unchanged);
    _cleanup_free_ char *man = xasprintf("%s/manifest.json", inst);
    json_auto_t *m = NULL;
    assert_int_equal(record_load(man, &m, NULL), 0);
    assert_int_equal(record_save(man, m, NULL), 0);
    assert_int_equal(env_install_verify_stamped(inst, r, ENV_VERIFY_FULL_STAMPED, NULL, &unchanged, NULL), 0);
    assert_false(unchanged);

    /* A record that is not the stamp, or not JSON: hashed again. */
    write_file(rec, "{\"stamp\": \"0000\"}\n");
    assert_int_equal(env_install_verify_stamped(inst, r, ENV_VERIFY_FULL_STAMPED, NULL, &unchanged, NULL), 0);
    assert_false(unchanged);
    write_file(rec, "not json");
    assert_int_equal(env_install_verify_stamped(inst, r, ENV_VERIFY_FULL_STAMPED, NULL, &unchanged, NULL), 0);
    assert_false(unchanged);
    assert_int_equal(env_install_verify_stamped(inst, r, ENV_VERIFY_FULL_STAMPED, NULL, &unchanged, NULL), 0);
    assert_true(unchanged);
    pyro_ctx_free(ctx);
}

static void test_add_artifact(void **state)
{
    (void)state;
    struct pyro_ctx *ctx = test_ctx();
    const struct env_recipe *r;
    _cleanup_free_ char *inst = NULL, *disk = NULL;
    install_with_disk(ctx, "debian:12", "an ext4 image, honestly", &r, &inst, &disk);
    pyro_error err = {0};
    json_auto_t *m = NULL;
    assert_int_equal(env_install_verify(inst, r, ENV_VERIFY_FULL, &m, NULL), 0);
    assert_int_equal(json_array_size(json_object_get(m, "artifacts")), 2);
    write_file(disk, "an ext4 image, honestlY");
    assert_int_equal(env_install_verify(inst, r, ENV_VERIFY_FULL, NULL, &err), -PYRO_E_CORRUPT);
    assert_non_null(strstr(err.message, "disk"));
    assert_int_equal(env_install_add_artifact(ctx, r->name, "disk", "disk-image", "../x", &err), -PYRO_E_INVALID);
    assert_int_equal(env_install_add_artifact(ctx, r->name, "rootfs", "disk-image", "x", &err), -PYRO_E_INVALID);
    assert_int_equal(env_install_add_artifact(ctx, r->name, "k", "kernel", "rootfs/boot/vmlinuz", &err),
                     -PYRO_E_INVALID);
    pyro_ctx_free(ctx);
}

static void test_log_tail(void **state)
{
    (void)state;
    _cleanup_free_ char *p = xasprintf("%s/build.log", tmp);
    FILE *f = fopen(p, "w");
    for (int i = 0; i < 500; i++)
        fprintf(f, "I: line %d\n", i);
    fprintf(f, "E: mirror unreachable\n");
    fclose(f);
    _cleanup_free_ char *t = env_log_tail(AT_FDCWD, p, 60);
    assert_true(strlen(t) <= 60);
    assert_non_null(strstr(t, "E: mirror unreachable"));
    assert_non_null(strstr(t, "I: line 499 | E: mirror"));
    _cleanup_free_ char *none = env_log_tail(AT_FDCWD, "/nonexistent/log", 60);
    assert_string_equal(none, "");
}

static json_t *run_op(struct pyro_ctx *ctx, const char *name, const char *args)
{
    const struct contract_op *op = contract_op_find(name);
    assert_non_null(op);
    json_auto_t *a = args ? json_loads(args, 0, NULL) : NULL;
    json_auto_t *valid = NULL;
    pyro_error err = {0};
    assert_int_equal(contract_args_validate(op, a, SURFACE_ALL, &valid, &err), 0);
    json_t *res = NULL;
    int rc = op->handler(ctx, valid, &res, &err);
    if (rc < 0)
        fail_msg("%s: %s", name, err.message);
    json_auto_t *schema = contract_output_schema_json(op);
    if (contract_schema_check(schema, res, &err) < 0)
        fail_msg("%s result: %s", name, err.message);
    return res;
}

static void test_ops_and_prune(void **state)
{
    (void)state;
    struct pyro_ctx *ctx = test_ctx();
    const struct env_recipe *r;
    assert_int_equal(env_recipe_find("debian:12-base", &r, NULL), 0);
    assert_true(contract_op_exposed(contract_op_find("vm_list_environments"), SURFACE_WORKSPACE_FULL));
    assert_false(contract_op_exposed(contract_op_find("env_prune"), SURFACE_WORKSPACE_FULL));

    json_auto_t *l0 = run_op(ctx, "vm_list_environments", NULL);
    assert_int_equal(json_array_size(json_object_get(l0, "environments")), 3);

    make_install(ctx, r, r->version);
    make_install(ctx, r, "0"); /* superseded, used by a workspace */
    _cleanup_free_ char *dir = env_dir_path(ctx, r);
    _cleanup_free_ char *tmpb = xasprintf("%s/.tmp-1-abcdef/rootfs/etc", dir); /* a dead pull's leftovers */
    assert_int_equal(mkdir_p(tmpb, 0755, NULL), 0);
    _cleanup_free_ char *gone = xasprintf("%s/environments/ubuntu_22.04/3", ctx->cache_dir);
    assert_int_equal(mkdir_p(gone, 0755, NULL), 0);
    _cleanup_free_ char *ws = xasprintf("%s/workspaces/w1", ctx->state_dir);
    assert_int_equal(mkdir_p(ws, 0700, NULL), 0);
    _cleanup_free_ char *rec = xasprintf("%s/record.json", ws);
    write_file(rec, "{\"environment\":\"debian:12-base\",\"environment_version\":\"0\"}");

    json_auto_t *ins = run_op(ctx, "env_inspect", "{\"environment\":\"debian:12-base\"}");
    assert_string_equal(json_get_str(ins, "status", ""), "installed");
    assert_int_equal(json_get_int(ins, "stale_builds", -1), 1);

    json_auto_t *p1 = run_op(ctx, "env_prune", NULL);
    assert_int_equal(json_get_int(p1, "removed_count", 0), 2); /* the partial build, ubuntu */
    assert_int_equal(json_array_size(json_object_get(p1, "kept_in_use")), 1);
    _cleanup_free_ char *v0 = xasprintf("%s/0", dir);
    _cleanup_free_ char *v1 = xasprintf("%s/1", dir);
    struct stat st;
    assert_int_equal(stat(v0, &st), 0);
    assert_int_equal(stat(v1, &st), 0);
    assert_int_equal(stat(gone, &st), -1);

    unlink(rec);
    json_auto_t *p2 = run_op(ctx, "env_prune", NULL);
    assert_int_equal(json_get_int(p2, "removed_count", 0), 1);
    assert_string_equal(json_get_str(json_array_get(json_object_get(p2, "removed"), 0), "reason", ""), "superseded");
    assert_int_equal(stat(v0, &st), -1);
    assert_int_equal(stat(v1, &st), 0); /* the current, valid install stays */

    /* An invalid current install goes too. */
    _cleanup_free_ char *f = xasprintf("%s/rootfs/bin/sh", v1);
    write_file(f, "#!/bin/fals\n");
    json_auto_t *ins2 = run_op(ctx, "env_inspect", "{\"environment\":\"debian:12-base\"}");
    assert_string_equal(json_get_str(ins2, "status", ""), "invalid");
    json_auto_t *l1 = run_op(ctx, "vm_list_environments", NULL);
    assert_int_equal(json_array_size(json_object_get(l1, "environments")), 3);
    json_auto_t *p3 = run_op(ctx, "env_prune", NULL);
    assert_string_equal(json_get_str(json_array_get(json_object_get(p3, "removed"), 0), "reason", ""), "invalid");
    assert_int_equal(stat(v1, &st), -1);
    pyro_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_dpkg_status),
        cmocka_unit_test_setup_teardown(test_tree_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_stamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_artifact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ops_and_prune, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
