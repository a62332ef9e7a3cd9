/* Random identifiers: lowercase letters and digits only, so an id is safe
 * in URLs, file names and host names. 12 characters carry 62 bits. */
#ifndef PYRO_ID_H
#define PYRO_ID_H

#include <stdbool.h>
#include <stddef.h>

#define PYRO_ID_LEN 12

/* Fills buf with size-1 random characters and a NUL. */
void id_random(char *buf, size_t size);
/* True when s looks like an id pyro made or accepts: 1..64 chars of
 * [a-z0-9_-], not starting with '-' or '.' (never a path). */
bool id_valid(const char *s);

#endif
