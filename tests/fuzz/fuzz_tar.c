/* Fuzz target: the agent's tar extractor (src/agent/tar_read.c) fed an
 * arbitrary byte stream into a fresh temporary directory.
 *
 * Whatever the bytes: every call returns 0 or a negative code with a
 * message; nothing appears next to the destination (a sentinel directory
 * beside it stays empty, and nothing else is created there); inside it
 * there are only directories, regular files and symlinks whose targets
 * stay inside; at most MAX_ENTRIES non-directories, and no more file data
 * than the extractor counted against MAX_BYTES. Each iteration is bounded by those limits and by the input. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/tar.h"
#include "base/cleanup.h"
#include "base/paths.h"
#include "base/relpath.h"
#include "fuzz.h"

#define MAX_ENTRIES 32
#define MAX_BYTES (64 * 1024)

struct tally {
    long others;     /* non-directories */
    long long bytes; /* regular file data, each inode once */
    ino_t seen[MAX_ENTRIES + 1];
    int nseen;
};

static void walk(int dirfd, const char *rel, int depth, struct tally *t)
{
    CHECK(depth <= RELPATH_DEPTH_MAX + 1);
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0);
    DIR *d = fdopendir(fd);
    CHECK(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        _cleanup_free_ char *path = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
        struct stat st;
        CHECK(fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0);
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            CHECK(sub >= 0);
            walk(sub, path, depth + 1, t);
            close(sub);
            continue;
        }
        t->others++;
        CHECK(t->others <= MAX_ENTRIES);
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlinkat(dirfd, de->d_name, target, sizeof(target) - 1);
            CHECK(n > 0);
            target[n] = '\0';
            CHECK(relpath_link_check(path, target, NULL) == 0);
            continue;
        }
        CHECK(S_ISREG(st.st_mode));
        bool again = false;
        for (int i = 0; i < t->nseen; i++)
            again |= t->seen[i] == st.st_ino;
        if (!again) {
            t->seen[t->nseen++] = st.st_ino;
            t->bytes += st.st_size;
        }
    }
    closedir(d);
}

static char base[64];

/* Every iteration leaves base empty; a crash leaves it for inspection. */
static void remove_base(void)
{
    rmdir(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!base[0]) {
        snprintf(base, sizeof(base), "/tmp/pyro-fuzz-tar.XXXXXX");
        CHECK(mkdtemp(base));
        atexit(remove_base);
    }
    _cleanup_close_ int basefd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(basefd >= 0);
    CHECK(mkdirat(basefd, "run", 0700) == 0);
    _cleanup_close_ int run = openat(basefd, "run", O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(run >= 0);
    CHECK(mkdirat(run, "dest", 0700) == 0 && mkdirat(run, "outside", 0700) == 0);
    _cleanup_close_ int dest = openat(run, "dest", O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(dest >= 0);

    /* Chunks of a size that moves with the input, so block boundaries fall
     * anywhere. */
    size_t chunk = 1 + size % 1021;
    struct tarx *x = tarx_new(dest, MAX_ENTRIES, MAX_BYTES);
    pyro_error err = {0};
    int r = 0;
    for (size_t off = 0; r == 0 && off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        r = tarx_feed(x, data + off, n, &err);
    }
    if (r == 0)
        r = tarx_finish(x, &err);
    CHECK(r <= 0);
    if (r < 0)
        CHECK(err.message[0]);
    CHECK(tarx_entries(x) <= MAX_ENTRIES + 1); /* the one past the limit is counted, then refused */
    uint64_t counted = tarx_bytes(x);
    CHECK(counted <= MAX_BYTES);
    tarx_free(x);

    /* Nothing beside the destination. */
    _cleanup_closedir_ DIR *d = fdopendir(openat(run, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    CHECK(d);
    struct dirent *de;
    int names = 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            CHECK(!strcmp(de->d_name, "dest") || !strcmp(de->d_name, "outside"));
            names++;
        }
    CHECK(names == 2);
    CHECK(unlinkat(run, "outside", AT_REMOVEDIR) == 0); /* fails unless empty */

    struct tally t = {0};
    int destdir = openat(run, "dest", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    CHECK(destdir >= 0);
    walk(destdir, "", 0, &t);
    close(destdir);
    /* What is on disk was declared and counted first (less when entries
     * replaced one another or the archive was cut short). */
    CHECK(t.bytes >= 0 && (uint64_t)t.bytes <= counted);

    CHECK(rm_rf_at(basefd, "run", NULL) == 0);
    return 0;
}
