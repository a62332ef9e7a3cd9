/* The writable disk image both backends use (backend.h: disk_mib). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "base/cleanup.h"
#include "base/paths.h"
#include "base/proc.h"
#include "base/spawn_capture.h"
#include "base/timeutil.h"

#include <time.h>

#define DISK_MKFS_TIMEOUT_MS 60000

/* Lazy inode tables and journal (the first mount initialises them in the
 * background), discard (mkfs punches the file's holes: it stays sparse),
 * -m 0: no blocks kept for root, so that a sandbox's root (not the host's)
 * and a VM's see the same room. */
int backend_disk_make(const char *path, int size_mib, pyro_error *err)
{
    _cleanup_free_ char *mkfs = NULL;
    int r = proc_find_program("mkfs.ext4", &mkfs, err);
    if (r < 0)
        return err_set(err, r, "mkfs.ext4 not found: install e2fsprogs (scripts/deps.sh)");
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
    unlink(tmp);
    _cleanup_free_ char *size = xasprintf("%dM", size_mib);
    char *const argv[] = {mkfs,
                          "-q",
                          "-F",
                          "-t",
                          "ext4",
                          "-m",
                          "0",
                          "-L",
                          "pyro-rw",
                          "-E",
                          "lazy_itable_init=1,lazy_journal_init=1,discard",
                          tmp,
                          size,
                          NULL};
    r = proc_run(argv, DISK_MKFS_TIMEOUT_MS, NULL, err);
    if (r < 0) {
        unlink(tmp);
        return err_prefix(err, "create the writable disk");
    }
    if (chmod(tmp, 0600) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return err_errno(err, e, "install %s", path);
    }
    return 0;
}

/* Whether a loop device is backed by path (its sysfs backing_file). */
static bool loop_holds(const char *path)
{
    _cleanup_closedir_ DIR *d = opendir("/sys/block");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, "loop", 4) != 0)
            continue;
        char bf[300], line[4096];
        snprintf(bf, sizeof(bf), "/sys/block/%s/loop/backing_file", de->d_name);
        _cleanup_fclose_ FILE *f = fopen(bf, "re");
        if (!f || !fgets(line, sizeof(line), f))
            continue;
        line[strcspn(line, "\n")] = '\0';
        if (!strcmp(line, path))
            return true;
    }
    return false;
}

int backend_disk_wait_free(const char *path, pyro_error *err)
{
    int64_t deadline = time_mono_ns() + (int64_t)BACKEND_DISK_FREE_WAIT_MS * 1000000;
    while (loop_holds(path)) {
        if (time_mono_ns() >= deadline)
            return err_set(err, -PYRO_E_BUSY,
                           "the disk %s is still attached to a loop device %d s after its instance stopped (is "
                           "another instance using it?)",
                           path, BACKEND_DISK_FREE_WAIT_MS / 1000);
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return 0;
}
