/* workspace_sync_push and workspace_export: trees in and out of
 * /workspace through the agent's tar streams. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "lib/contract/contract.h"
#include "lib/contract/params.h"
#include "lib/host/hostpaths.h"
#include "lib/workspace/workspace.h"
#include "lib/workspace/ws_archive.h"
#include "lib/workspace/ws_schema.h"

static int ws_sync_push_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_free_ char *rel = NULL;
    int r = ws_guest_rel(json_get_str(args, "dest", WS_ROOT), &rel, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *abs_src = NULL;
    _cleanup_close_ int src_fd = -1;
    r = host_open_source(ctx, "source_path", json_get_str(args, "source_path", ""), &src_fd, &abs_src, err);
    if (r < 0)
        return r;
    _cleanup_instance_ struct instance inst = {0};
    struct agent_conn *c = NULL;
    r = ws_open_op(ctx, args, &inst, &c, err);
    if (r < 0)
        return r;
    json_auto_t *stats = NULL;
    /* The transfer runs without the workspace lock (instance_unlock). */
    instance_unlock(&inst);
    r = ws_import(&inst, c, src_fd, abs_src, WS_ROOT, rel, &stats, err);
    agent_conn_close(c);
    int lr = instance_relock(&inst, "the files were pushed", err);
    if (lr < 0)
        return lr;
    if (r == 0) {
        _cleanup_free_ char *dest = ws_guest_abs(rel);
        json_t *ev = json_pack("{s:s, s:s, s:O, s:O}", "source_path", abs_src, "dest", dest, "entries",
                               json_object_get(stats, "entries"), "bytes", json_object_get(stats, "bytes"));
        ws_event(&inst, "sync_push", ev);
        r = ws_touch(&inst, err);
        if (r == 0)
            *result = json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:O}", "workspace_id", inst.id, "source_path", abs_src,
                                "source_kind", json_get_str(stats, "kind", ""), "dest", dest, "entries",
                                json_object_get(stats, "entries"), "bytes", json_object_get(stats, "bytes"), "skipped",
                                json_object_get(stats, "skipped"));
    }
    return r;
}

/* Whether a symlink exported on its own may be recreated on the host: its
 * target must be relative without a ".." component, so it can only name
 * something beside the output; anything else (an absolute target, one
 * that climbs) would be a host link leaving the output. */
static bool export_link_ok(const char *target)
{
    if (!target[0] || target[0] == '/')
        return false;
    for (const char *p = target; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
        p += strspn(p, "/");
    }
    return true;
}

/* The exported tree of /workspace/rel (already in fd, a tar stream) at the
 * destination: a directory as the tar itself, a file or symlink as what it
 * is. *fmt gets the format, *bytes the size. */
static int export_place(struct host_dest *d, int fd, bool is_dir, const char **fmt, long long *bytes, pyro_error *err)
{
    if (is_dir) {
        *fmt = "tar";
        return host_dest_commit(d, fd, 0644, err);
    }
    if (lseek(fd, 0, SEEK_SET) < 0)
        return err_errno(err, errno, "seek");
    _cleanup_close_ int out = host_dest_tmpfile(d, err);
    if (out < 0)
        return out;
    _cleanup_free_ char *target = NULL;
    mode_t perm = 0644;
    int r = ws_archive_extract_single(fd, out, &target, &perm, bytes, err);
    if (r < 0)
        return r;
    *fmt = target ? "symlink" : "file";
    if (target && !export_link_ok(target))
        return err_set(err, -PYRO_E_INVALID,
                       "the exported path is a symlink to '%.256s', which leaves the exported tree: nothing was "
                       "written to %s %s (export the directory holding it instead: a directory arrives as a tar "
                       "archive, where the link is only an entry)",
                       target, d->param, d->path);
    return target ? host_dest_symlink(d, target, err) : host_dest_commit(d, out, perm, err);
}

static int ws_export_run(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    _cleanup_free_ char *rel = NULL;
    int r = ws_guest_rel(json_get_str(args, "path", ""), &rel, err);
    if (r < 0)
        return r;
    /* Checked (and held open by its directory) before the workspace is
     * touched: a refused output_path changes nothing. */
    struct host_dest dest;
    r = host_dest_open(ctx, "output_path", json_get_str(args, "output_path", ""), &dest, err);
    if (r < 0)
        return r;
    _cleanup_instance_ struct instance inst = {0};
    struct agent_conn *c = NULL;
    r = ws_open_op(ctx, args, &inst, &c, err);
    if (r < 0) {
        host_dest_close(&dest);
        return r;
    }
    /* The transfer runs without the workspace lock (instance_unlock). */
    instance_unlock(&inst);
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
        fd = is_dir ? host_dest_tmpfile(&dest, err) : open(inst.dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
            r = is_dir ? fd : err_errno(err, errno, "create a temporary file in %s", inst.dir);
    }
    json_auto_t *tres = NULL;
    if (r == 0)
        r = ws_tar_out(c, rel, fd, &tres, err);
    agent_conn_close(c);
    int lr = instance_relock(&inst, "the export ran", err);
    if (lr < 0) {
        host_dest_close(&dest);
        return lr;
    }
    long long bytes = json_get_int(tres, "bytes", 0);
    const char *fmt = "file";
    if (r == 0)
        r = export_place(&dest, fd, is_dir, &fmt, &bytes, err);
    if (r == 0) {
        _cleanup_free_ char *abs = ws_guest_abs(rel);
        ws_event(&inst, "export",
                 json_pack("{s:s, s:s, s:s, s:I}", "path", abs, "output_path", dest.path, "format", fmt, "bytes",
                           (json_int_t)bytes));
        *result = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "workspace_id", inst.id, "path", abs, "output_path",
                            dest.path, "type", type, "format", fmt, "bytes", (json_int_t)bytes, "entries",
                            (json_int_t)json_get_int(tres, "entries", 1));
    }
    host_dest_close(&dest);
    return r;
}

static const struct contract_param ws_sync_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("source_path",
              "Host directory or .tar/.tar.gz/.tgz archive. Over MCP it must lie beneath the "
              "server's allowed host paths.",
              .flags = PF_REQUIRED | PF_POSITIONAL),
    PARAM_STR("dest", "Destination directory under /workspace (created when missing).", .has_default = true,
              .def_str = WS_ROOT, .metavar = "WORKSPACE_PATH"),
    PARAM_END,
};
static const struct contract_param ws_export_params[] = {
    PARAM_WORKSPACE_ID,
    PARAM_STR("path", "File or directory under /workspace.", .flags = PF_REQUIRED | PF_POSITIONAL),
    PARAM_STR("output_path",
              "Host path to create (must not exist). Over MCP it must lie beneath a writable "
              "allowed host path (the server's export directory by default).",
              .flags = PF_REQUIRED, .flag = "output", .metavar = "HOST_PATH"),
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
                   "exist. A file arrives as a file; a directory arrives as a POSIX tar archive of its contents "
                   "(names relative to it). A symlink exported on its own arrives as a symlink only when its "
                   "target is relative without '..'; any other is refused and nothing is written (export its "
                   "directory instead). The result's output_path is the path written. Adds nothing to the "
                   "command history.",
    .params = ws_export_params,
    .output_schema = "{\"type\":\"object\",\"required\":[\"workspace_id\",\"path\",\"output_path\",\"format\"],"
                     "\"properties\":{\"workspace_id\":" WS_STR ",\"path\":" WS_STR ",\"output_path\":" WS_STR
                     ",\"type\":" WS_STR ",\"format\":{\"type\":\"string\",\"enum\":[\"file\",\"symlink\",\"tar\"]},"
                     "\"bytes\":" WS_INT ",\"entries\":" WS_INT "}}",
    .exposure = WS_FULL | WS_CORE | WS_REVIEW,
    .handler = ws_export_run,
};
