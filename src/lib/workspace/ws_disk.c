/* The stopped-disk tools (docs/workspaces.md "Disk tools"): export, list
 * and read of a stopped workspace's disk image, offline (diskfs.c), and
 * the disk quota's check of a seed at create. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/relpath.h"
#include "lib/contract/params.h"
#include "lib/host/hostpaths.h"
#include "lib/workspace/diskfs.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_schema.h"

int ws_disk_check_seed(long long disk_mib, long long seed_bytes, pyro_error *err)
{
    /* The file system's own metadata and the guest's first writes take
     * room too: a seed must leave an eighth of the disk and 16 MiB. */
    long long room = disk_mib * 1024 * 1024;
    if (seed_bytes > room - room / 8 - (16LL << 20))
        return err_set(err, -PYRO_E_INVALID,
                       "disk_mib %lld is too small for the seed (%lld bytes): give at least %lld MiB (the seed, "
                       "an eighth for the file system and 16 MiB)",
                       disk_mib, seed_bytes, (seed_bytes + (16LL << 20)) * 8 / 7 / (1 << 20) + 1);
    return 0;
}

/* The workspace of args, stopped, and the path of its disk image. */
static int disk_open(struct pyro_ctx *ctx, const json_t *args, struct instance *inst, char **img, pyro_error *err)
{
    int r = ws_open_op(ctx, args, inst, NULL, err);
    if (r < 0)
        return r;
    const char *state = ws_state(inst);
    if (strcmp(state, "stopped") != 0)
        return err_set(err, -PYRO_E_STATE,
                       "workspace %s is %s: the disk tools read a stopped workspace's disk only; run "
                       "'pyro workspace stop %s' first (workspace_stop)",
                       inst->id, state, inst->id);
    *img = xasprintf("%s/upper/%s", inst->dir, BACKEND_DISK_NAME);
    struct stat st;
    if (lstat(*img, &st) < 0 || !S_ISREG(st.st_mode))
        return err_set(err, -PYRO_E_UNSUPPORTED,
                       "workspace %s has no disk image: it was created before disk quotas, or its sandbox runs "
                       "as an ordinary user, who cannot loop-mount one (disk_quota unenforced); start it and use "
                       "workspace export instead",
                       inst->id);
    /* Stopped, but its last mount may be going away this instant. */
    return backend_disk_wait_free(*img, err);
}

/* A guest path of the disk tools: absolute, anywhere on the disk. */
static int disk_rel(const char *path, char **rel, pyro_error *err)
{
    if (path[0] != '/')
        return err_set(err, -PYRO_E_INVALID, "path '%s' must be absolute (e.g. /workspace/src)", path);
    return relpath_parse(path + 1, strlen(path + 1), RELPATH_ROOT, rel, err);
}

static int copy_data(int in, int out, off_t size, pyro_error *err)
{
    if (ftruncate(out, size) < 0)
        return err_errno(err, errno, "size the exported image");
    for (off_t pos = 0; pos < size;) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break;
        off_t hole = data < 0 ? -1 : lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            return err_errno(err, errno, "seek the disk image");
        for (off_t o = data; o < hole;) {
            loff_t si = o, di = o;
            ssize_t n = copy_file_range(in, &si, out, &di, (size_t)(hole - o), 0);
            if (n <= 0)
                return err_errno(err, n < 0 ? errno : EIO, "copy the disk image");
            o += n;
        }
        pos = hole;
    }
    return 0;
}

static int ws_disk_export_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    struct host_dest dest;
    int r = host_dest_open(ctx, "output_path", json_get_str(args, "output_path", ""), &dest, err);
    if (r < 0)
        return r;
    _cleanup_instance_ struct instance inst = {0};
    _cleanup_free_ char *img = NULL;
    if ((r = disk_open(ctx, args, &inst, &img, err)) < 0) {
        host_dest_close(&dest);
        return r;
    }
    /* A scrubbed copy beside the workspace, then into place. */
    _cleanup_free_ char *tmp = xasprintf("%s/disk-export.tmp", inst.dir);
    unlink(tmp);
    _cleanup_close_ int in = open(img, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    _cleanup_close_ int cp = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    struct stat st;
    if (in < 0 || cp < 0 || fstat(in, &st) < 0)
        r = err_errno(err, errno, "copy the disk image");
    if (r == 0)
        r = copy_data(in, cp, st.st_size, err);
    int removed = 0;
    if (r == 0)
        r = diskfs_scrub(tmp, &removed, err);
    _cleanup_close_ int out = r == 0 ? host_dest_tmpfile(&dest, err) : -1;
    if (r == 0 && out < 0)
        r = out;
    if (r == 0 && lseek(cp, 0, SEEK_SET) == 0)
        r = copy_data(cp, out, st.st_size, err);
    if (r == 0)
        r = host_dest_commit(&dest, out, 0600, err);
    unlink(tmp);
    if (r == 0) {
        struct stat ost;
        long long alloc = fstat(out, &ost) == 0 ? (long long)ost.st_blocks * 512 : 0;
        ws_event(&inst, "disk_export", json_pack("{s:s}", "output_path", dest.path));
        *result = json_pack("{s:s, s:s, s:s, s:I, s:I, s:i}", "workspace_id", inst.id, "output_path", dest.path,
                            "format", "raw-ext4", "size_bytes", (json_int_t)st.st_size, "allocated_bytes",
                            (json_int_t)alloc, "scrubbed", removed);
    }
    host_dest_close(&dest);
    return r;
}

static int ws_disk_list_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_free_ char *rel = NULL;
    int r = disk_rel(json_get_str(args, "path", WS_ROOT), &rel, err);
    if (r < 0)
        return r;
    _cleanup_instance_ struct instance inst = {0};
    _cleanup_free_ char *img = NULL;
    if ((r = disk_open(ctx, args, &inst, &img, err)) < 0)
        return r;
    json_t *entries = NULL;
    bool truncated = false, recursive = json_get_bool(args, "recursive", false);
    size_t unlisted = 0;
    if ((r = diskfs_list(img, rel, recursive, &entries, &truncated, &unlisted, err)) < 0)
        return r;
    *result = json_pack("{s:s, s:s+, s:b, s:I, s:o, s:b, s:I}", "workspace_id", inst.id, "path", "/", rel, "recursive",
                        recursive, "count", (json_int_t)json_array_size(entries), "entries", entries, "truncated",
                        truncated, "unlisted", (json_int_t)unlisted);
    return 0;
}

static int ws_disk_read_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_free_ char *rel = NULL;
    int r = disk_rel(json_get_str(args, "path", ""), &rel, err);
    if (r < 0)
        return r;
    _cleanup_instance_ struct instance inst = {0};
    _cleanup_free_ char *img = NULL;
    if ((r = disk_open(ctx, args, &inst, &img, err)) < 0)
        return r;
    long long max = json_get_int(args, "max_bytes", WS_READ_DEFAULT), size = 0;
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    if ((r = diskfs_read(img, rel, (size_t)max, &data, &len, &size, err)) < 0)
        return r;
    const char *encoding;
    json_t *content = ws_content(data, len, &encoding);
    *result = json_pack("{s:s, s:s+, s:o, s:s, s:I, s:I, s:b, s:I}", "workspace_id", inst.id, "path", "/", rel,
                        "content", content, "encoding", encoding, "size", (json_int_t)size, "bytes_read",
                        (json_int_t)len, "truncated", size > (long long)len, "max_bytes", (json_int_t)max);
    return 0;
}

static const struct contract_param disk_export_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("output_path",
              "Host path to create (must not exist). Over MCP it must lie beneath a writable allowed host path "
              "(the server's export directory by default).",
              .flags = PF_REQUIRED, .flag = "output", .metavar = "HOST_PATH"),
    PARAM_END,
};
static const struct contract_param disk_list_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("path", "Absolute guest path on the workspace's disk.", .flags = PF_POSITIONAL, .has_default = true,
              .def_str = WS_ROOT),
    PARAM_BOOL("recursive", "List subdirectories too (at most 10000 entries)."),
    PARAM_END,
};
static const struct contract_param disk_read_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("path", "Absolute guest path of a regular file on the workspace's disk.",
              .flags = PF_REQUIRED | PF_POSITIONAL),
    PARAM_INT("max_bytes", "Read at most this many bytes; truncation is reported.", .has_default = true,
              .def_int = WS_READ_DEFAULT, .min = 1, .max = WS_READ_MAX),
    PARAM_END,
};

#define DISK_NOTE                                                                                                \
    " Only for a stopped workspace with a disk image (disk_quota enforced). The disk holds what the workspace "  \
    "wrote (the overlay's writable layer): the environment's unchanged files are not on it. /run/pyro-secrets, " \
    "/run/pyro-shells and /run/pyro-services are never shown and are removed from exports; symbolic links are "  \
    "never followed."

const struct contract_op op_workspace_disk_export = {
    .name = "workspace_disk_export",
    .cli = "workspace disk export",
    .title = "Export a stopped workspace's disk",
    .summary = "Copy a stopped workspace's disk out as a raw ext4 image.",
    .description = "Write the stopped workspace's disk to output_path on the host as a raw, sparse ext4 image "
                   "(the overlay's writable layer at /upper in it), checked with e2fsck." DISK_NOTE,
    .params = disk_export_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"output_path\",\"format\"],"
                     "\"properties\":{\"workspace_id\":" WS_STR ",\"output_path\":" WS_STR ",\"format\":" WS_STR
                     ",\"size_bytes\":" WS_INT ",\"allocated_bytes\":" WS_INT ",\"scrubbed\":" WS_INT "}}",
    .exposure = WS_FULL,
    .handler = ws_disk_export_run,
};

const struct contract_op op_workspace_disk_list = {
    .name = "workspace_disk_list",
    .cli = "workspace disk list",
    .title = "List a stopped workspace's disk",
    .summary = "List a path on a stopped workspace's disk, offline.",
    .description = "List one path (path, type, size, mode) of the stopped workspace's disk or a directory's "
                   "entries, optionally recursive, read offline with debugfs without booting it." DISK_NOTE,
    .params = disk_list_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"path\",\"entries\",\"truncated\"],"
                     "\"properties\":{\"workspace_id\":" WS_STR ",\"path\":" WS_STR ",\"recursive\":" WS_BOOL
                     ",\"count\":" WS_INT ",\"entries\":" WS_ARR_OBJ ",\"truncated\":" WS_BOOL ",\"unlisted\":" WS_INT
                     "}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = WS_FULL,
    .handler = ws_disk_list_run,
};

const struct contract_op op_workspace_disk_read = {
    .name = "workspace_disk_read",
    .cli = "workspace disk read",
    .title = "Read a file of a stopped workspace's disk",
    .summary = "Read one regular file of a stopped workspace's disk, offline.",
    .description = "Read up to max_bytes of one regular file of the stopped workspace's disk, offline with "
                   "debugfs. UTF-8 content comes back as text, other content as base64." DISK_NOTE,
    .params = disk_read_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"path\",\"content\",\"encoding\","
                     "\"truncated\"],\"properties\":{\"workspace_id\":" WS_STR ",\"path\":" WS_STR
                     ",\"content\":" WS_STR ",\"encoding\":{\"type\":\"string\",\"enum\":[\"utf-8\",\"base64\"]},"
                     "\"size\":" WS_INT ",\"bytes_read\":" WS_INT ",\"truncated\":" WS_BOOL ",\"max_bytes\":" WS_INT
                     "}}",
    .annotations = PA_READ_ONLY | PA_IDEMPOTENT,
    .exposure = WS_FULL,
    .handler = ws_disk_read_run,
};
