/* OCI image references: registry/repository[:tag][@sha256:digest], with
 * the short-name rule of oci.h. The grammar is the distribution
 * project's (reference/regexp.go), restricted to sha256 digests. */
#include "lib/env/oci.h"

#include "base/sha256.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool oci_digest_ok(const char *d)
{
    if (!d || strncmp(d, "sha256:", 7) || strlen(d) != 71)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

bool oci_blob_present(int dirfd, const char *digest, int64_t size)
{
    struct stat st;
    return oci_digest_ok(digest) && fstatat(dirfd, digest + 7, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
           st.st_size == size;
}

/* One path component: [a-z0-9]+ with single '.', '_', "__" or runs of '-'
 * between alphanumerics. */
static bool component_ok(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (is_lower_alnum(c))
            continue;
        if (c == '-')
            continue;
        if (c == '.' && is_lower_alnum(s[i + 1]))
            continue;
        if (c == '_' && (is_lower_alnum(s[i + 1]) || (s[i + 1] == '_' && is_lower_alnum(s[i + 2])))) {
            i += s[i + 1] == '_';
            continue;
        }
        return false;
    }
    return true;
}

/* host[:port]: labels of [A-Za-z0-9-] separated by '.', or "[v6]". */
static bool registry_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t host = n;
    const char *colon = memchr(s, ':', n);
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb)
            return false;
        for (const char *p = s + 1; p < rb; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') || *p == ':'))
                return false;
        host = (size_t)(rb - s) + 1;
        colon = host < n ? s + host : NULL;
        if (colon && *colon != ':')
            return false;
    } else {
        if (colon)
            host = (size_t)(colon - s);
        if (host == 0)
            return false;
        for (size_t i = 0; i < host; i++) {
            char c = s[i];
            bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (!alnum && !(c == '-' && i > 0 && i + 1 < host && s[i - 1] != '.') &&
                !(c == '.' && i > 0 && i + 1 < host && s[i - 1] != '.'))
                return false;
        }
    }
    if (colon) {
        size_t pl = n - (size_t)(colon - s) - 1;
        if (pl == 0 || pl > 5)
            return false;
        for (size_t i = 1; i <= pl; i++)
            if (colon[i] < '0' || colon[i] > '9')
                return false;
    }
    return true;
}

static bool tag_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '.' || *s == '-'))
            return false;
    return true;
}

/* oci:PATH[:tag|@digest]: an absolute path of printable characters but
 * '@', without "." or ".." components, empty ones or a trailing '/', so
 * that one layout has one name. */
static int parse_layout(const char *s, char *buf, struct oci_ref *out, pyro_error *err)
{
    char *path = buf + 4;
    char *at = strstr(path, "@sha256:");
    char *slash = strrchr(path, '/');
    char *colon = at ? NULL : strrchr(slash ? slash : path, ':');
    if (at) {
        *at = '\0';
        if (!oci_digest_ok(at + 1))
            return err_set(err, -PYRO_E_INVALID, "'%.*s': the digest must be sha256:<64 hex digits>", OCI_REF_MAX, s);
        snprintf(out->digest, sizeof(out->digest), "%s", at + 1);
    } else if (colon) {
        *colon = '\0';
        if (!tag_ok(colon + 1))
            return err_set(err, -PYRO_E_INVALID, "'%.*s': bad tag '%s'", OCI_REF_MAX, s, colon + 1);
        snprintf(out->tag, sizeof(out->tag), "%s", colon + 1);
    } else {
        snprintf(out->tag, sizeof(out->tag), "latest");
    }
    if (path[0] != '/' || !path[1])
        return err_set(err, -PYRO_E_INVALID, "'%.*s': oci:PATH needs an absolute path to an OCI layout directory",
                       OCI_REF_MAX, s);
    for (const char *c = path + 1;;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && !strncmp(c, "..", 2)))
            return err_set(err, -PYRO_E_INVALID,
                           "'%.*s': the layout path must not have '.', '..' or empty components or end in '/'",
                           OCI_REF_MAX, s);
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
                return err_set(err, -PYRO_E_INVALID, "'%.*s': control character in the layout path", OCI_REF_MAX, s);
            /* (it would read as a digest once the name is written out) */
            if (c[i] == '@')
                return err_set(err, -PYRO_E_INVALID, "'%.*s': '@' in the layout path (only before sha256:<digest>)",
                               OCI_REF_MAX, s);
        }
        if (!e)
            break;
        c = e + 1;
    }
    snprintf(out->layout, sizeof(out->layout), "%s", path);
    return 0;
}

int oci_ref_parse(const char *s, const char *default_registry, struct oci_ref *out, pyro_error *err)
{
    memset(out, 0, sizeof(*out));
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len >= OCI_REF_MAX)
        return err_set(err, -PYRO_E_INVALID, "image reference must be 1-%d bytes", OCI_REF_MAX - 1);
    char buf[OCI_REF_MAX];
    memcpy(buf, s, len + 1);
    if (!strncmp(buf, "oci:", 4))
        return parse_layout(s, buf, out, err);
    char *at = strchr(buf, '@');
    if (at) {
        *at = '\0';
        if (!oci_digest_ok(at + 1))
            return err_set(err, -PYRO_E_INVALID, "image reference '%.*s': the digest must be sha256:<64 hex digits>",
                           OCI_REF_MAX, s);
        snprintf(out->digest, sizeof(out->digest), "%s", at + 1);
    }
    /* The tag: a ':' after the last '/'. */
    char *slash = strrchr(buf, '/');
    char *colon = strrchr(slash ? slash : buf, ':');
    if (colon) {
        *colon = '\0';
        if (!tag_ok(colon + 1))
            return err_set(err, -PYRO_E_INVALID, "image reference '%.*s': bad tag '%s'", OCI_REF_MAX, s, colon + 1);
        snprintf(out->tag, sizeof(out->tag), "%s", colon + 1);
    }
    char *path = buf;
    char *first = strchr(buf, '/');
    if (first && (memchr(buf, '.', (size_t)(first - buf)) || memchr(buf, ':', (size_t)(first - buf)) ||
                  memchr(buf, '[', (size_t)(first - buf)) || !strncmp(buf, "localhost/", 10))) {
        if (!registry_ok(buf, (size_t)(first - buf)))
            return err_set(err, -PYRO_E_INVALID, "image reference '%.*s': bad registry", OCI_REF_MAX, s);
        snprintf(out->registry, sizeof(out->registry), "%.*s", (int)(first - buf), buf);
        path = first + 1;
    } else {
        const char *def = default_registry ? default_registry : getenv("PYRO_OCI_REGISTRY");
        if (!def || !*def)
            def = OCI_DEFAULT_REGISTRY;
        if (!registry_ok(def, strlen(def)))
            return err_set(err, -PYRO_E_INVALID, "default registry '%.64s' is not host[:port]", def);
        snprintf(out->registry, sizeof(out->registry), "%s", def);
    }
    if (!strcmp(out->registry, "index.docker.io") || !strcmp(out->registry, "registry-1.docker.io"))
        snprintf(out->registry, sizeof(out->registry), "%s", OCI_DEFAULT_REGISTRY);
    size_t pl = strlen(path);
    if (pl == 0 || pl > 200)
        return err_set(err, -PYRO_E_INVALID, "image reference '%.*s': bad repository", OCI_REF_MAX, s);
    for (const char *c = path;;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (!component_ok(c, n))
            return err_set(err, -PYRO_E_INVALID,
                           "image reference '%.*s': bad repository component '%.*s' (lowercase letters, digits and "
                           "single separators)",
                           OCI_REF_MAX, s, (int)n, c);
        if (!e)
            break;
        c = e + 1;
    }
    if (!strcmp(out->registry, OCI_DEFAULT_REGISTRY) && !strchr(path, '/'))
        snprintf(out->repo, sizeof(out->repo), "library/%s", path);
    else
        snprintf(out->repo, sizeof(out->repo), "%s", path);
    if (strlen(out->repo) > 200) /* with "library/": the canonical form parses again */
        return err_set(err, -PYRO_E_INVALID, "image reference '%.*s': repository longer than 200 bytes", OCI_REF_MAX,
                       s);
    if (!out->tag[0] && !out->digest[0])
        snprintf(out->tag, sizeof(out->tag), "latest");
    return 0;
}

void oci_ref_format(const struct oci_ref *r, char *buf, size_t size)
{
    if (r->layout[0]) {
        snprintf(buf, size, "oci:%s%s%s", r->layout, r->digest[0] ? "@" : ":", r->digest[0] ? r->digest : r->tag);
        return;
    }
    snprintf(buf, size, "%s/%s%s%s%s%s", r->registry, r->repo, r->tag[0] ? ":" : "", r->tag, r->digest[0] ? "@" : "",
             r->digest);
}

bool oci_ref_looks(const char *s)
{
    const struct env_recipe *r;
    for (r = env_catalog; r->name; r++)
        if (!strcmp(r->name, s))
            return false;
    struct oci_ref ref;
    return oci_ref_parse(s, NULL, &ref, NULL) == 0;
}

#define INTERN_MAX 256

struct interned {
    struct env_recipe r;
    char name[OCI_REF_MAX];
    char dir[24];
};

static const char *const no_packages[] = {NULL};

const struct env_recipe *oci_recipe_intern(const char *name)
{
    static struct interned *table[INTERN_MAX];
    static size_t count;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    if (!oci_ref_looks(name))
        return NULL;
    struct oci_ref ref;
    oci_ref_parse(name, NULL, &ref, NULL);
    char canon[OCI_REF_MAX + 8];
    oci_ref_format(&ref, canon, sizeof(canon));
    if (strlen(canon) >= OCI_REF_MAX)
        return NULL;
    const struct env_recipe *found = NULL;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < count && !found; i++)
        if (!strcmp(table[i]->name, canon))
            found = &table[i]->r;
    if (!found && count < INTERN_MAX) {
        struct interned *t = calloc(1, sizeof(*t));
        if (t) {
            snprintf(t->name, sizeof(t->name), "%s", canon);
            struct sha256 s;
            char hex[SHA256_HEX_LEN];
            sha256_init(&s);
            sha256_update(&s, canon, strlen(canon));
            sha256_final_hex(&s, hex);
            snprintf(t->dir, sizeof(t->dir), "oci-%.16s", hex);
            t->r = (struct env_recipe){.name = t->name,
                                       .description = "OCI image",
                                       .version = "1",
                                       .suite = "",
                                       .variant = "",
                                       .packages = no_packages,
                                       .dir = t->dir,
                                       .oci = true};
            table[count++] = t;
            found = &t->r;
        }
    }
    pthread_mutex_unlock(&lock);
    return found;
}

bool oci_dev_allowed(const char *path, unsigned major, unsigned minor)
{
    static const struct {
        const char *path;
        unsigned major, minor;
    } ok[] = {{"dev/null", 1, 3},    {"dev/zero", 1, 5}, {"dev/full", 1, 7},    {"dev/random", 1, 8},
              {"dev/urandom", 1, 9}, {"dev/tty", 5, 0},  {"dev/console", 5, 1}, {"dev/ptmx", 5, 2}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!strcmp(path, ok[i].path) && major == ok[i].major && minor == ok[i].minor)
            return true;
    return false;
}
