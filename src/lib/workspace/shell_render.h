/* Plain rendering of a shell's terminal output (docs/workspaces.md,
 * "Shells"). */
#ifndef PYRO_SHELL_RENDER_H
#define PYRO_SHELL_RENDER_H

#include <stddef.h>

/* Returns a malloc'ed, NUL-terminated, valid UTF-8 text of the terminal
 * output in[0..len): CSI, OSC, DCS and charset escape sequences and other
 * control characters removed, carriage return moving back to the start of
 * the line (later text overwrites), backspace one column left, CSI K
 * erasing; invalid UTF-8 becomes U+FFFD. A sequence cut off at the end is
 * dropped. *out_len (optional) gets the length. */
char *shell_render_plain(const char *in, size_t len, size_t *out_len);

#endif
