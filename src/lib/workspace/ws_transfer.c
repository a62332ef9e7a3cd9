/* workspace_sync_push and workspace_export: trees in and out of
 * /workspace through the agent's tar streams. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "lib/contract/contract.h"
#include "base/json.h"
#include "lib/contract/params.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_archive.h"
#include "lib/workspace/ws_schema.h"

static int ws_sync_push_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_free_ char *rel = NULL;
    int r = ws_guest_rel(json_get_str(args, "dest", WS_ROOT), &rel, err);
    if (r < 0)
        return r;
    const char *src = json_get_str(args, "source_path", "");
    _cleanup_free_ char *abs_src = realpath(src, NULL);
    if (!abs_src)
        return err_errno(err, errno, "source_path %s", src);
    _cleanup_instance_ struct instance inst = {0};
    struct agent_conn *c = NULL;
    r = ws_open_op(ctx, args, &inst, &c, err);
    if (r < 0)
        return r;
    json_auto_t *stats = NULL;
    r = ws_import(&inst, c, abs_src, WS_ROOT, rel, &stats, err);
    agent_conn_close(c);
    if (r == 0) {
        _cleanup_free_ char *dest = ws_guest_abs(rel);
        json_t *ev = json_pack("{s:s, s:s, s:O, s:O}", "source_path", abs_src, "dest", dest, "entries",
                               json_object_get(stats, "entries"), "bytes", json_object_get(stats, "bytes"));
        ws_event(&inst, "sync_push", ev);
        r = ws_touch(&inst, err);
        if (r == 0)
            *result = json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:O}", "workspace_id", inst.id, "source_path",
                                abs_src, "source_kind", json_get_str(stats, "kind", ""), "dest", dest, "entries",
                                json_object_get(stats, "entries"), "bytes", json_object_get(stats, "bytes"),
                                "skipped", json_object_get(stats, "skipped"));
    }
    return r;
}

static int ws_export_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_free_ char *rel = NULL;
    int r = ws_guest_rel(json_get_str(args, "path", ""), &rel, err);
    if (r < 0)
        return r;
    const char *out = json_get_str(args, "output_path", "");
    struct stat st;
    if (lstat(out, &st) == 0)
        return err_set(err, -PYRO_E_INVALID, "output_path %s already exists", out);
    _cleanup_free_ char *outdir = xstrdup(out);
    const char *dn = dirname(outdir);
    if (stat(dn, &st) < 0 || !S_ISDIR(st.st_mode))
        return err_set(err, -PYRO_E_INVALID, "the directory of output_path %s does not exist", out);
    _cleanup_instance_ struct instance inst = {0};
    struct agent_conn *c = NULL;
    r = ws_open_op(ctx, args, &inst, &c, err);
    if (r < 0)
        return r;
    json_auto_t *sa = json_pack("{s:s}", "path", rel);
    json_auto_t *sres = NULL;
    r = ws_call(c, "file_stat", sa, &sres, NULL, err);
    const char *type = json_get_str(sres, "type", "");
    if (r == 0 && strcmp(type, "dir") && strcmp(type, "file") && strcmp(type, "symlink"))
        r = err_set(err, -PYRO_E_INVALID, "%s is a %s: only files, directories and symlinks are exported",
                         json_get_str(args, "path", ""), type);
    bool is_dir = !strcmp(type, "dir");
    /* Directories: the tar archive itself, linked into place complete.
     * Files and symlinks: the one member, extracted. */
    _cleanup_close_ int fd = -1;
    if (r == 0) {
        fd = open(is_dir ? dn : inst.dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
        if (fd < 0)
            r = err_errno(err, errno, "create a temporary file in %s", is_dir ? dn : inst.dir);
    }
    json_auto_t *tres = NULL;
    if (r == 0)
        r = ws_tar_out(c, rel, fd, &tres, err);
    agent_conn_close(c);
    long long bytes = 0;
    if (r == 0 && is_dir) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || linkat(AT_FDCWD, proc, AT_FDCWD, out, AT_SYMLINK_FOLLOW) < 0)
            r = err_errno(err, errno, "create %s", out);
        bytes = json_get_int(tres, "bytes", 0);
    } else if (r == 0) {
        if (lseek(fd, 0, SEEK_SET) < 0)
            r = err_errno(err, errno, "seek");
        else
            r = ws_archive_extract_single(fd, out, &bytes, err);
    }
    if (r == 0) {
        _cleanup_free_ char *abs = ws_guest_abs(rel);
        _cleanup_free_ char *outabs = realpath(out, NULL);
        const char *fmt = is_dir ? "tar" : !strcmp(type, "symlink") ? "symlink" : "file";
        ws_event(&inst, "export", json_pack("{s:s, s:s, s:s, s:I}", "path", abs, "output_path", outabs ? outabs : out,
                                            "format", fmt, "bytes", (json_int_t)bytes));
        *result = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "workspace_id", inst.id, "path", abs,
                            "output_path", outabs ? outabs : out, "type", type, "format", fmt, "bytes",
                            (json_int_t)bytes, "entries", (json_int_t)json_get_int(tres, "entries", 1));
    }
    return r;
}

static const struct contract_param ws_sync_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("source_path", "Host directory or .tar/.tar.gz/.tgz archive.", .flags = PF_REQUIRED | PF_POSITIONAL),
    PARAM_STR("dest", "Destination directory under /workspace (created when missing).", .has_default = true,
              .def_str = WS_ROOT, .metavar = "WORKSPACE_PATH"),
    PARAM_END,
};
static const struct contract_param ws_export_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("path", "File or directory under /workspace.", .flags = PF_REQUIRED | PF_POSITIONAL),
    PARAM_STR("output_path", "Host path to create (must not exist).", .flags = PF_REQUIRED, .flag = "output",
              .metavar = "HOST_PATH"),
    PARAM_END,
};

const struct contract_op op_workspace_sync_push = {
    .name = "workspace_sync_push",
    .cli = "workspace sync push",
    .title = "Push files into a workspace",
    .summary = "Copy a host directory or archive into a started workspace.",
    .description = "Copy a host directory or .tar/.tar.gz/.tgz archive into dest under /workspace of a started "
                   "workspace, through the same checked import as seeding. The baseline does not change, so "
                   "diff reports the pushed files. Not atomic: an archive refused midway by the guest leaves "
                   "the entries before the refused one.",
    .params = ws_sync_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"dest\",\"entries\",\"bytes\"],"
                     "\"properties\":{\"workspace_id\":" WS_STR ",\"source_path\":" WS_STR ",\"source_kind\":" WS_STR
                     ",\"dest\":" WS_STR ",\"entries\":" WS_INT ",\"bytes\":" WS_INT ",\"skipped\":" WS_INT "}}",
    .annotations = PA_DESTRUCTIVE,
    .exposure = WS_FULL | WS_CORE,
    .handler = ws_sync_push_run,
};

const struct contract_op op_workspace_export = {
    .name = "workspace_export",
    .cli = "workspace export",
    .title = "Export from a workspace",
    .summary = "Copy a file or directory from /workspace to the host.",
    .description = "Copy one file or directory under /workspace to output_path on the host, which must not "
                   "exist. A file arrives as a file (a symlink as a symlink); a directory arrives as a POSIX tar "
                   "archive of its contents (names relative to it). Adds nothing to the command history.",
    .params = ws_export_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"path\",\"output_path\",\"format\"],"
                     "\"properties\":{\"workspace_id\":" WS_STR ",\"path\":" WS_STR ",\"output_path\":" WS_STR
                     ",\"type\":" WS_STR ",\"format\":{\"type\":\"string\",\"enum\":[\"file\",\"symlink\",\"tar\"]},"
                     "\"bytes\":" WS_INT ",\"entries\":" WS_INT "}}",
    .exposure = WS_FULL | WS_CORE | WS_REVIEW,
    .handler = ws_export_run,
};
