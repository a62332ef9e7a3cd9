#ifndef PYRO_BASE_SHELL_H
#define PYRO_BASE_SHELL_H

/* Joins argv into one shell command: a single word is taken verbatim (it
 * may be a whole script), several words are each shell-quoted. */
char *shell_join_command(int argc, char **argv);

#endif
