#include "base/lazylib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void lazylib_fail(const char *what, const char *why)
{
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "pyro: cannot load %s: %s\n", what, why ? why : "unknown error");
    if (n > 0)
        (void)!write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
    abort();
}

void *lazylib_sym(struct lazylib *lib, const char *symbol)
{
    if (!lib->handle) {
        lib->handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
        if (!lib->handle)
            lazylib_fail(lib->soname, dlerror());
    }
    void *p = dlsym(lib->handle, symbol);
    if (!p)
        lazylib_fail(symbol, dlerror());
    return p;
}
