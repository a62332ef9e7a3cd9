/* The one way pyro runs a helper program and reads what it prints (doctor's
 * QEMU queries, git ls-files for project seeds, ip and nft for sandbox
 * networking): found on $PATH, no shell, stdin
 * /dev/null, no descriptor but the pipes inherited, default signal
 * dispositions, its own process group (killed as a whole at the deadline),
 * output bounded. */
#ifndef PYRO_SPAWN_CAPTURE_H
#define PYRO_SPAWN_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

/* Bytes of stderr kept when it is captured apart from stdout. */
#define PROC_STDERR_MAX 2048
/* Bounds of proc_run. */
#define PROC_RUN_OUTPUT_MAX (1u << 20)

/* Finds name on $PATH (the system directories /usr/local/sbin,
 * /usr/local/bin, /usr/sbin, /usr/bin, /sbin and /bin when PATH is unset or
 * empty; relative entries are ignored), or takes it as is when it contains
 * '/'; *out is a malloc'ed path of an executable regular file. -ENOENT
 * when absent. */
int proc_find_program(const char *name, char **out, pyro_error *err);

struct proc_opts {
    int timeout_ms;    /* the child's process group is killed after this */
    size_t max_output; /* bytes of stdout kept; more sets truncated */
    bool merge_stderr; /* stderr joins stdout; else its first bytes go to err_text */
    char *const *env;  /* "NAME=value" entries set in the child's environment; may be NULL */
    char *const *envp; /* when set: the child's whole environment (env is then added to it) */
    int stdin_fd;      /* > 2: the child's stdin (else /dev/null) */
    int pass_fd;       /* > 2: given to the child as its fd 3 (else it has none) */
    const char *cwd;   /* the child's working directory (default: ours) */
};

struct proc_result {
    char *out; /* malloc'ed, NUL-terminated (binary output may hold NULs: see len) */
    size_t len;
    bool truncated;
    char err_text[PROC_STDERR_MAX]; /* the start of stderr, NUL-terminated ("" when merged) */
    int status;                     /* the exit status, or 128 + signal */
};

/* Runs argv[0] (a path: proc_find_program) with argv. Returns 0 with *res
 * filled whatever the exit status, -PYRO_E_TIMEOUT when the deadline passed
 * (the group was killed; *res is empty), or -errno when it could not run. */
int proc_spawn(char *const argv[], const struct proc_opts *o, struct proc_result *res, pyro_error *err);
void proc_result_free(struct proc_result *res);

/* Reaps the child pid by deadline (time_mono_ms()): 0 with *status (the
 * exit status, or 128 + signal), or -PYRO_E_TIMEOUT after killing it (its
 * process group too, when it leads one) and reaping it, or -errno. */
int proc_reap_by(pid_t pid, int64_t deadline, int *status);

/* proc_spawn with stdout and stderr together: at most max bytes are kept
 * (*truncated says whether more came). *out is malloc'ed and
 * NUL-terminated; *status is the exit status, or 128 + signal. */
int proc_capture(char *const argv[], int timeout_ms, size_t max, char **out, bool *truncated, int *status,
                 pyro_error *err);

/* proc_spawn for a tool that must succeed: a non-zero exit, or more than
 * PROC_RUN_OUTPUT_MAX bytes of stdout, is an error naming the command line
 * and quoting the first line of its stderr. *out (when not NULL) gets
 * stdout, malloc'ed. */
int proc_run(char *const argv[], int timeout_ms, char **out, pyro_error *err);

#endif
