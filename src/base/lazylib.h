/* Libraries loaded on first use instead of at process start.
 *
 * libarchive (through libxml2 and ICU) and libmicrohttpd (through GnuTLS)
 * pull some twenty shared objects into every process that links them, about
 * 3 ms of dynamic loading on each `pyro` invocation, although only seeding,
 * export and the HTTP transport use them. pyro therefore does not link them:
 * shims with the libraries' own names and prototypes (lazy_archive.c,
 * src/mcp/lazy_mhd.c) resolve each function with dlopen/dlsym the first time
 * it is called. The library is a hard dependency like any other; when it
 * cannot be loaded the process aborts with the loader's message, as the
 * dynamic linker would have at start-up. */
#ifndef PYRO_LAZYLIB_H
#define PYRO_LAZYLIB_H

struct lazylib {
    const char *soname;
    void *handle;
};

/* The address of symbol in lib, loading lib on first use; never NULL. */
void *lazylib_sym(struct lazylib *lib, const char *symbol);

#define LAZY_SHIM(lib, ret, name, params, args)           \
    ret name params                                       \
    {                                                     \
        static ret(*fp) params;                           \
        if (!fp)                                          \
            fp = (ret(*) params)lazylib_sym(&lib, #name); \
        return fp args;                                   \
    }
#define LAZY_SHIM_VOID(lib, name, params, args)            \
    void name params                                       \
    {                                                      \
        static void(*fp) params;                           \
        if (!fp)                                           \
            fp = (void(*) params)lazylib_sym(&lib, #name); \
        fp args;                                           \
    }

#endif
