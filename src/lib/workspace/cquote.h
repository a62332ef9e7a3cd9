/* File names in diff headers, quoted exactly as git quotes them (quote.c,
 * core.quotePath true): a name holding a double quote, a backslash, a
 * control character (below 0x20, and 0x7f) or a byte of 0x80 and above is
 * written in double quotes, with \a \b \t \n \v \f \r \" \\ and three-digit
 * octal escapes for the rest; any other name as it is. A name from a
 * workspace is untrusted: unquoted, a newline in it could forge headers
 * and make a patch create files the diff never listed. */
#ifndef PYRO_CQUOTE_H
#define PYRO_CQUOTE_H

#include <stdbool.h>
#include <stddef.h>

/* name quoted when it needs quoting, else as it is. malloc'ed. */
char *cquote_name(const char *name);

/* The header label of prefix + name ("a/", "b/"), quoted as one string
 * when it needs quoting (git's quote_two), followed by a tab when it holds
 * a space (as git writes "--- a/x y\t"). malloc'ed. */
char *cquote_label(const char *prefix, const char *name);

/* Reads a quoted name at s (s[0] == '"', len bytes available): 0 with
 * *out (malloc'ed, NUL-terminated; *out_len bytes, which may hold NUL
 * bytes from \000) and *used (bytes through the closing quote), or -1
 * for a malformed quote (unknown escape, no closing quote). */
int cquote_unquote(const char *s, size_t len, char **out, size_t *out_len, size_t *used);

#endif
