/* libpyro: disposable, isolated Linux machines for AI coding agents.
 *
 * The public C API. Every operation of the contract table (the same ones the
 * CLI and the MCP server expose) is reachable through pyro_call(), which
 * takes the operation's arguments as a JSON object and returns its result as
 * a JSON object with the same stable keys as `pyro ... --json`.
 *
 * Conventions: functions that can fail return 0 (or a non-negative value) on
 * success and a negative code on failure, and fill the caller's pyro_error.
 * Codes are negative errno values or one of the PYRO_E_* codes below. The
 * library never prints above debug level and never exits.
 */
#ifndef PYRO_H
#define PYRO_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <pyro/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PYRO_API __attribute__((visibility("default")))
#else
#define PYRO_API
#endif

/* pyro's own error codes; always returned negated, like -errno. */
enum pyro_error_code {
    PYRO_E_INVALID = 1001,     /* bad input: unknown parameter, wrong type, out of range */
    PYRO_E_NOT_FOUND = 1002,   /* unknown id, name or path */
    PYRO_E_STATE = 1003,       /* the object is in the wrong state for the operation */
    PYRO_E_LIMIT = 1004,       /* a configured limit was reached */
    PYRO_E_UNSUPPORTED = 1005, /* the host lacks a capability */
    PYRO_E_PROTOCOL = 1006,    /* malformed message on a channel */
    PYRO_E_TIMEOUT = 1007,
    PYRO_E_CORRUPT = 1008,     /* a record or artifact failed validation */
    PYRO_E_BUSY = 1009,        /* a lock is held by someone else */
    PYRO_E_CANCELLED = 1010,
};

#define PYRO_ERROR_MESSAGE_MAX 1024

/* Caller-allocated error: the code and a message that already carries its
 * context ("workspace ab12: open state.json: No such file or directory"). */
typedef struct pyro_error {
    int code;                              /* negative; 0 when no error */
    char message[PYRO_ERROR_MESSAGE_MAX];
} pyro_error;

/* Stable short name for a code: "invalid_argument", "not_found", ..., or the
 * errno name in lower case ("enoent") for system errors. */
PYRO_API const char *pyro_error_name(int code);
/* True when the code blames the caller's request (invalid_argument,
 * not_found) rather than the host or the runtime: a client error, in HTTP's
 * terms. It is not an exit status: the CLI exits 2 only for errors its own
 * parsing of the command line finds, and 1 for every error the runtime
 * reports, whatever its code (docs/contract.md). */
PYRO_API bool pyro_error_is_usage(int code);

PYRO_API const char *pyro_version(void);

/* ---- context ---------------------------------------------------------- */

typedef struct pyro_ctx pyro_ctx;

/* Progress of a long operation: phase is a short word ("download", "install"),
 * current/total are -1 when unknown. Called on the calling thread. */
typedef void (*pyro_progress_fn)(void *userdata, const char *operation, const char *phase,
                                 int64_t current, int64_t total, const char *message);

/* Creates a context. State and cache directories are resolved from
 * $PYRO_HOME / $XDG_STATE_HOME / ~/.local/state and $XDG_CACHE_HOME / ~/.cache. */
PYRO_API int pyro_ctx_new(pyro_ctx **out, pyro_error *err);
PYRO_API void pyro_ctx_free(pyro_ctx *ctx);
PYRO_API void pyro_ctx_set_progress(pyro_ctx *ctx, pyro_progress_fn fn, void *userdata);
PYRO_API const char *pyro_ctx_state_dir(const pyro_ctx *ctx);
PYRO_API const char *pyro_ctx_cache_dir(const pyro_ctx *ctx);

/* ---- operations ------------------------------------------------------- */

/* Runs the operation named op (e.g. "doctor", "vm_run") with args, a JSON
 * object text (NULL means {}). On success *result_json is a malloc'ed JSON
 * object text that the caller frees. Arguments are validated against the
 * contract table exactly as the CLI and MCP validate them. */
PYRO_API int pyro_call(pyro_ctx *ctx, const char *op, const char *args_json, char **result_json,
                       pyro_error *err);

/* The JSON Schema (draft 2020-12) of an operation's input or result,
 * malloc'ed. */
PYRO_API int pyro_op_input_schema(const char *op, char **schema_json, pyro_error *err);
PYRO_API int pyro_op_output_schema(const char *op, char **schema_json, pyro_error *err);

/* ---- MCP server ------------------------------------------------------- */

/* Options of pyro_mcp_serve(); zero-initialise, then set what you need
 * (docs/mcp.md). Unset strings take the defaults shown. */
struct pyro_mcp_options {
    const char *profile;         /* "vm-run" | "workspace-core" (default) | "workspace-full" */
    const char *mode;            /* "repro-fix" | "inspect" | "cold-start" | "review-eval": a
                                    mode replaces the profile; giving both is an error */
    const char *transport;       /* "stdio" (default) | "http" */
    const char *listen;          /* http: "ADDR:PORT", default "127.0.0.1:8765"; port 0 picks one */
    const char *auth_token_file; /* http: bearer token required on every request; mandatory
                                    before binding a non-loopback address */
    const char *project_path;    /* project source for workspace seeding */
    const char *repo_url;        /* ... or a clean clone of this repository */
    const char *repo_ref;        /* ... at this branch, tag or commit */
    /* Directories beneath which MCP callers may name host paths (read and
     * write), NULL-terminated; the project source (read only) and the
     * server's export directory are always allowed (docs/mcp.md
     * "Host-path policy"). */
    const char *const *allow_host_paths;
    int stdin_fd, stdout_fd;     /* stdio: message fds; 0 and 0 mean 0 and 1 */
    /* http: called once listening, with the endpoint URL. */
    void (*on_listen)(void *userdata, const char *url);
    void *userdata;
};

/* Runs an MCP server until stdin ends (stdio), or SIGTERM/SIGINT/SIGHUP.
 * Blocks those signals and SIGCHLD in the calling thread while it runs
 * and ignores SIGPIPE. Returns 0 on a clean end. */
PYRO_API int pyro_mcp_serve(pyro_ctx *ctx, const struct pyro_mcp_options *opts, pyro_error *err);

#ifdef __cplusplus
}
#endif

#endif /* PYRO_H */
