/* The project source (docs/mcp.md "Project source"): the host directory
 * workspace_create seeds from when it is given no seed_path.
 *   --project-path PATH         that directory;
 *   --repo-url URL [--repo-ref] a clean clone under <state>/mcp/checkouts/,
 *                               removed when the server exits;
 *   neither                     the git checkout around the working
 *                               directory, if there is one.
 * The clone runs git on the host, hardened (run_git); seeding from a
 * checkout reads its index without git (lib/workspace/gitindex.h). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/paths.h"
#include "base/spawn_capture.h"
#include "mcp/mcp.h"

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The nearest ancestor of the working directory holding .git. */
static char *find_checkout(void)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return NULL;
    for (;;) {
        _cleanup_free_ char *g = xasprintf("%s/.git", cwd);
        if (access(g, F_OK) == 0)
            return xstrdup(cwd);
        char *slash = strrchr(cwd, '/');
        if (!slash || slash == cwd)
            return NULL;
        *slash = '\0';
    }
}

/* Host-side git never executes what a repository or the caller's
 * environment configures (docs/threat-model.md "Host paths"): no system
 * or global configuration, no GIT_* variables but ours, and every setting
 * that names a command overridden on the command line, which outranks the
 * configuration of the repository itself. */
static const char *const git_safe_config[] = {
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.editor=false",
    "core.askPass=",
    "core.sshCommand=ssh",
    "credential.helper=",
    "diff.external=",
    "sequence.editor=false",
    "submodule.recurse=false",
    "init.templateDir=",
    "protocol.allow=never",
    "protocol.ext.allow=never",
    NULL,
};

/* Whether url is a local path or file:// URL (else a remote one). */
static bool url_is_local(const char *url)
{
    if (!strncmp(url, "file://", 7))
        return true;
    if (strstr(url, "://"))
        return false;
    /* scp-like "host:path" is remote unless a slash comes before the colon. */
    const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
    return !colon || (slash && slash < colon);
}

/* The environment of a host-side git: the caller's minus every GIT_*
 * variable, plus ours. */
static char **git_env(void)
{
    extern char **environ;
    static const char *const ours[] = {
        "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
        "GIT_OPTIONAL_LOCKS=0",  "GIT_PROTOCOL_FROM_USER=0",    "GIT_ASKPASS=",
        "SSH_ASKPASS=",          "GIT_TEMPLATE_DIR=",           NULL,
    };
    size_t n = 0;
    for (char **e = environ; *e; e++)
        n++;
    char **env = xcalloc(n + ARRAY_SIZE(ours) + 1, sizeof(*env));
    size_t o = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "GIT_", 4) && strncmp(*e, "SSH_ASKPASS=", 12))
            env[o++] = *e;
    for (size_t i = 0; ours[i]; i++)
        env[o++] = (char *)ours[i];
    return env;
}

/* A clone or checkout that takes longer is given up (its process group
 * killed). */
#define GIT_TIMEOUT_MS (15 * 60 * 1000)

/* Runs git with the safe configuration, the protocols url needs, and
 * args (base/spawn_capture.h: stdin /dev/null, only its pipes inherited,
 * its own process group); the start of stderr goes into the message. */
static int run_git(const char *step, const char *url, char *const args[], pyro_error *err)
{
    _cleanup_free_ char *git = NULL;
    int r = proc_find_program("git", &git, err);
    if (r < 0)
        return err_set(err, -PYRO_E_UNSUPPORTED, "git is not installed (needed for --repo-url)");
    size_t nargs = 0;
    while (args[nargs])
        nargs++;
    _cleanup_free_ char **argv = xcalloc(2 * ARRAY_SIZE(git_safe_config) + 12 + nargs, sizeof(*argv));
    size_t a = 0;
    argv[a++] = git;
    argv[a++] = "--no-pager";
    for (size_t i = 0; git_safe_config[i]; i++) {
        argv[a++] = "-c";
        argv[a++] = (char *)git_safe_config[i];
    }
    /* Only the transports a clone of url needs: file for a local path;
     * https, http, ssh and git for a remote one. Never ext:: (it runs a
     * command). */
    static const char *const local[] = {"protocol.file.allow=always", NULL};
    static const char *const remote[] = {"protocol.https.allow=always", "protocol.http.allow=always",
                                         "protocol.ssh.allow=always", "protocol.git.allow=always", NULL};
    for (const char *const *p = url_is_local(url) ? local : remote; *p; p++) {
        argv[a++] = "-c";
        argv[a++] = (char *)*p;
    }
    for (size_t i = 0; i < nargs; i++)
        argv[a++] = args[i];
    argv[a] = NULL;
    _cleanup_free_ char **env = git_env();

    /* The whole environment is ours (git_env); stdout is not needed. */
    struct proc_opts o = {.timeout_ms = GIT_TIMEOUT_MS, .max_output = 64 * 1024, .envp = env};
    struct proc_result res = {0};
    r = proc_spawn(argv, &o, &res, err);
    if (r < 0)
        return err_prefix(err, "git %s", step);
    char msg[sizeof(res.err_text)];
    snprintf(msg, sizeof(msg), "%s", res.err_text);
    int status = res.status;
    proc_result_free(&res);
    if (status == 0)
        return 0;
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return err_set(err, -PYRO_E_INVALID, "git %s failed: %s", step, msg[0] ? msg : "no message");
}

static int clone_repo(struct mcp_server *srv, const char *url, const char *ref, pyro_error *err)
{
    _cleanup_free_ char *base = xasprintf("%s/mcp/checkouts", pyro_ctx_state_dir(srv->ctx));
    int r = mkdir_p(base, 0700, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *dir = xasprintf("%s/XXXXXX", base);
    if (!mkdtemp(dir))
        return err_errno(err, errno, "mkdtemp %s", dir);
    /* --template= : no hooks or other files copied into the clone. */
    char *clone_argv[] = {"clone", "--quiet", "--template=", "--no-recurse-submodules", "--", (char *)url, dir, NULL};
    char *clone_ref_argv[] = {"clone",     "--quiet", "--template=", "--no-recurse-submodules", "--no-checkout", "--",
                              (char *)url, dir,       NULL};
    r = run_git("clone", url, ref ? clone_ref_argv : clone_argv, err);
    if (r == 0 && ref) {
        char *co_argv[] = {"-C", dir, "checkout", "--quiet", "--detach", (char *)ref, "--", NULL};
        r = run_git("checkout", url, co_argv, err);
        if (r < 0)
            err_prefix(err, "--repo-ref %s", ref);
    }
    if (r < 0) {
        rm_rf(dir, NULL);
        return err_prefix(err, "--repo-url %s", url);
    }
    srv->project_source = TAKE_PTR(dir);
    srv->project_origin = xstrdup("--repo-url");
    srv->project_owned = true;
    return 0;
}

int mcp_project_resolve(struct mcp_server *srv, const struct mcp_project_opts *o, pyro_error *err)
{
    if (o->project_path && o->repo_url)
        return err_set(err, -PYRO_E_INVALID, "give --project-path or --repo-url, not both");
    if (o->repo_ref && !o->repo_url)
        return err_set(err, -PYRO_E_INVALID, "--repo-ref needs --repo-url");
    if (o->repo_url) {
        if (!o->repo_url[0] || o->repo_url[0] == '-')
            return err_set(err, -PYRO_E_INVALID, "--repo-url must be a repository URL or path, got '%s'", o->repo_url);
        if (o->repo_ref && (!o->repo_ref[0] || o->repo_ref[0] == '-'))
            return err_set(err, -PYRO_E_INVALID, "--repo-ref must be a branch, tag or commit, got '%s'", o->repo_ref);
        return clone_repo(srv, o->repo_url, o->repo_ref, err);
    }
    if (o->project_path) {
        char real[PATH_MAX];
        if (!realpath(o->project_path, real) || !is_dir(real))
            return err_set(err, -PYRO_E_INVALID, "--project-path %s is not a directory", o->project_path);
        srv->project_source = xstrdup(real);
        srv->project_origin = xstrdup("--project-path");
        return 0;
    }
    srv->project_source = find_checkout();
    if (srv->project_source)
        srv->project_origin = xstrdup("git checkout");
    return 0;
}

void mcp_project_release(struct mcp_server *srv)
{
    if (srv->project_owned && srv->project_source)
        rm_rf(srv->project_source, NULL);
}
