/* What the two cgroup helpers of test_cgroup_delegation share (cgdeleg.c,
 * cgsandbox.c): their failure report and their checks of a cgroup's files. */
#ifndef PYRO_TEST_CGCHECK_H
#define PYRO_TEST_CGCHECK_H

/* Prints "FAIL <message>" and exits 1. */
void cg_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The first line of dir/name, without its newline ("(unreadable)"). */
const char *cg_first_line(const char *dir, const char *name);
/* Fails unless dir/name's first line is want; else prints "ok <label>name = want". */
void cg_expect_file(const char *label, const char *dir, const char *name, const char *want);

#endif
