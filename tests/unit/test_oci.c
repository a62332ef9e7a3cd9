/* OCI image references (lib/env/oci_ref.c), their recipes, and the word
 * splitting used for environments without a shell (base/shell.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/shell.h"
#include "lib/env/oci.h"

static void canon(const char *in, const char *want)
{
    struct oci_ref r;
    pyro_error err = {0};
    int rc = oci_ref_parse(in, "docker.io", &r, &err);
    if (rc != 0)
        fail_msg("%s: %s", in, err.message);
    char buf[OCI_REF_MAX + 8];
    oci_ref_format(&r, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void bad(const char *in)
{
    struct oci_ref r;
    pyro_error err = {0};
    if (oci_ref_parse(in, "docker.io", &r, &err) == 0)
        fail_msg("accepted %s", in);
    assert_int_equal(err.code, -PYRO_E_INVALID);
    assert_true(err.message[0] != '\0');
}

static void test_ref_parse(void **state)
{
    (void)state;
    canon("debian", "docker.io/library/debian:latest");
    canon("python:3.12", "docker.io/library/python:3.12");
    canon("team/tool:v1.2_3", "docker.io/team/tool:v1.2_3");
    canon("index.docker.io/library/node:22", "docker.io/library/node:22");
    canon("localhost/a", "localhost/a:latest");
    canon("localhost:5000/a/b/c:tag", "localhost:5000/a/b/c:tag");
    canon("127.0.0.1:5077/test/hello:1", "127.0.0.1:5077/test/hello:1");
    canon("ghcr.io/o/r__x.y-z", "ghcr.io/o/r__x.y-z:latest");
    char dig[128];
    snprintf(dig, sizeof(dig), "quay.io/a/b@sha256:%064d", 0);
    char want[160];
    snprintf(want, sizeof(want), "quay.io/a/b@sha256:%064d", 0);
    canon(dig, want);
    snprintf(dig, sizeof(dig), "a:1@sha256:%064d", 7);
    snprintf(want, sizeof(want), "docker.io/library/a:1@sha256:%064d", 7);
    canon(dig, want);

    bad("");
    bad("Upper/case");
    bad("a/../b");
    bad("a//b");
    bad("a/b:");
    bad("a/b:-tag");
    bad("a@sha256:1234");
    bad("a@md5:00000000000000000000000000000000");
    bad("reg.io:99999x/a");
    bad("reg..io/a");
    bad("/a");
    bad("a/");
    bad("a/b c");
    bad("a__-b");
    char big[600];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    bad(big);
}

/* oci:PATH: OCI layout directories, one canonical name per layout. */
static void test_ref_layout(void **state)
{
    (void)state;
    canon("oci:/srv/envs", "oci:/srv/envs:latest");
    canon("oci:/srv/envs:tool-1", "oci:/srv/envs:tool-1");
    canon("oci:/a:b/c", "oci:/a:b/c:latest"); /* a ':' before the last '/' is the path's */
    char dig[128], want[160];
    snprintf(dig, sizeof(dig), "oci:/m/usb@sha256:%064d", 3);
    snprintf(want, sizeof(want), "oci:/m/usb@sha256:%064d", 3);
    canon(dig, want);
    struct oci_ref r;
    assert_int_equal(oci_ref_parse("oci:/m/usb:v2", NULL, &r, NULL), 0);
    assert_string_equal(r.layout, "/m/usb");
    assert_string_equal(r.tag, "v2");
    assert_string_equal(r.registry, "");
    assert_true(oci_ref_looks("oci:/m/usb:v2"));
    const struct env_recipe *a = oci_recipe_intern("oci:/m/usb"), *b = oci_recipe_intern("oci:/m/usb:latest");
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_string_equal(a->name, "oci:/m/usb:latest");

    bad("oci:");
    bad("oci:/");
    bad("oci:relative/dir");
    bad("oci:./dir");
    bad("oci:/a/../etc");
    bad("oci:/a/./b");
    bad("oci:/a//b");
    bad("oci:/a/");
    bad("oci:/a:bad tag");
    bad("oci:/a@sha256:123");
    bad("oci:/a\nb");
}

static void test_ref_default_registry(void **state)
{
    (void)state;
    struct oci_ref r;
    assert_int_equal(oci_ref_parse("tool", "reg.example:5000", &r, NULL), 0);
    assert_string_equal(r.registry, "reg.example:5000");
    assert_string_equal(r.repo, "tool"); /* "library/" only on Docker Hub */
    setenv("PYRO_OCI_REGISTRY", "mirror.local", 1);
    assert_int_equal(oci_ref_parse("tool", NULL, &r, NULL), 0);
    assert_string_equal(r.registry, "mirror.local");
    unsetenv("PYRO_OCI_REGISTRY");
}

static void test_recipe_intern(void **state)
{
    (void)state;
    assert_null(oci_recipe_intern("debian:12")); /* a catalog name stays one */
    assert_null(oci_recipe_intern("Not A Ref"));
    const struct env_recipe *a = oci_recipe_intern("python:3.12");
    const struct env_recipe *b = oci_recipe_intern("docker.io/library/python:3.12");
    assert_non_null(a);
    assert_ptr_equal(a, b); /* one environment whatever the spelling */
    assert_true(a->oci);
    assert_string_equal(a->name, "docker.io/library/python:3.12");
    assert_int_equal(strncmp(a->dir, "oci-", 4), 0);
    assert_int_equal(strlen(a->dir), 20);
    const struct env_recipe *found;
    assert_int_equal(env_lookup("python:3.12", &found, NULL), 0);
    assert_int_equal(env_recipe_find("python:3.12", &found, NULL), -PYRO_E_NOT_FOUND); /* the catalog only */
    assert_int_equal(env_lookup("python:3.12", &found, NULL), 0);
    assert_ptr_equal(found, a);
    pyro_error err = {0};
    assert_int_equal(env_lookup("reg.io/Bad", &found, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "bad repository"));
}

static void words(const char *cmd, const char *const *want)
{
    char **v = shell_split_words(cmd);
    if (!want) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    size_t i = 0;
    for (; want[i]; i++) {
        assert_non_null(v[i]);
        assert_string_equal(v[i], want[i]);
        free(v[i]);
    }
    assert_null(v[i]);
    free(v);
}

static void test_shell_split(void **state)
{
    (void)state;
    words("/bin/hello 'big world'", (const char *const[]){"/bin/hello", "big world", NULL});
    words("  a\\ b \"c \\\"d\\\"\" e''f ", (const char *const[]){"a b", "c \"d\"", "ef", NULL});
    words("prog --x=1", (const char *const[]){"prog", "--x=1", NULL});
    words("", NULL);
    words("echo $HOME", NULL);
    words("a | b", NULL);
    words("a > f", NULL);
    words("ls *", NULL);
    words("'unterminated", NULL);
    words("\"$(x)\"", NULL);
    words("a # comment", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_parse),
        cmocka_unit_test(test_ref_layout),
        cmocka_unit_test(test_ref_default_registry),
        cmocka_unit_test(test_recipe_intern),
        cmocka_unit_test(test_shell_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
