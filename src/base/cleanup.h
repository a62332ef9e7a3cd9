/* Scope-bound cleanup helpers (GNU C cleanup attribute), crun/systemd style.
 * Ownership leaves a cleanup variable explicitly through TAKE_PTR / TAKE_FD /
 * TAKE_PID; destructors accept "nothing" (NULL, -1, 0). */
#ifndef PYRO_CLEANUP_H
#define PYRO_CLEANUP_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

void cleanup_freep(void *p);
void cleanup_closep(int *fd);
void cleanup_fclosep(FILE **f);
void cleanup_closedirp(DIR **d);
/* SIGKILLs and reaps a child that is still owned when the scope ends. */
void cleanup_pidp(pid_t *pid);
void cleanup_strvp(char ***strv);

#define _cleanup_free_ __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(cleanup_fclosep)))
#define _cleanup_closedir_ __attribute__((cleanup(cleanup_closedirp)))
#define _cleanup_pid_ __attribute__((cleanup(cleanup_pidp)))
#define _cleanup_strv_ __attribute__((cleanup(cleanup_strvp)))

#define TAKE_PTR(p)                   \
    ({                                \
        __typeof__(p) _tp_tmp_ = (p); \
        (p) = NULL;                   \
        _tp_tmp_;                     \
    })
#define TAKE_FD(fd)          \
    ({                       \
        int _tf_tmp_ = (fd); \
        (fd) = -1;           \
        _tf_tmp_;            \
    })
#define TAKE_PID(pid)             \
    ({                            \
        pid_t _tpid_tmp_ = (pid); \
        (pid) = 0;                \
        _tpid_tmp_;               \
    })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* A macro's value as a string literal: STRINGIFY(LIMIT) is "8192". */
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Allocation that never returns NULL: the process aborts on OOM, like
 * crun's xmalloc. Callers therefore never check. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void strv_free(char **strv);
size_t strv_len(char *const *strv);

#endif
