#ifndef PYRO_BASE_SHELL_H
#define PYRO_BASE_SHELL_H

/* Joins argv into one shell command: a single word is taken verbatim (it
 * may be a whole script), several words are each shell-quoted. */
char *shell_join_command(int argc, char **argv);

/* Splits a command into words as the shell would when it has only words,
 * blanks, quotes ('..', "..") and backslashes: for an environment without
 * /bin/sh. NULL when it is empty or uses anything else (expansions,
 * redirections, pipes, globs, comments). The vector and its strings are
 * malloc'd, NULL-terminated. */
char **shell_split_words(const char *command);

#endif
