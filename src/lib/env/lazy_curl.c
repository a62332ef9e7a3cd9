/* libcurl, loaded on first use (base/lazylib.h): it brings TLS, HTTP/2 and
 * the resolver's libraries, which only pulls and pushes of OCI images
 * need. Only the functions pyro calls are here. curl_easy_setopt and
 * curl_easy_getinfo are variadic; the shims pass their one argument on by
 * the type curl's option ranges give it (CURLOPTTYPE_*). */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdarg.h>

#include "base/lazylib.h"

static struct lazylib lc = {.soname = PYRO_LIBCURL_SONAME};

LAZY_SHIM(lc, CURL *, curl_easy_init, (void), ())
LAZY_SHIM_VOID(lc, curl_easy_cleanup, (CURL * h), (h))
LAZY_SHIM(lc, CURLcode, curl_easy_perform, (CURL * h), (h))
LAZY_SHIM_VOID(lc, curl_easy_reset, (CURL * h), (h))
LAZY_SHIM(lc, const char *, curl_easy_strerror, (CURLcode c), (c))
LAZY_SHIM(lc, struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s), (l, s))
LAZY_SHIM_VOID(lc, curl_slist_free_all, (struct curl_slist * l), (l))
LAZY_SHIM(lc, char *, curl_easy_escape, (CURL * h, const char *s, int n), (h, s, n))
LAZY_SHIM_VOID(lc, curl_free, (void *p), (p))

CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
    static CURLcode (*fp)(CURL *, CURLoption, ...);
    if (!fp)
        fp = (CURLcode(*)(CURL *, CURLoption, ...))lazylib_sym(&lc, "curl_easy_setopt");
    va_list ap;
    va_start(ap, opt);
    CURLcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        rc = fp(h, opt, va_arg(ap, long));
    else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB)
        rc = fp(h, opt, va_arg(ap, curl_off_t));
    else
        rc = fp(h, opt, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    static CURLcode (*fp)(CURL *, CURLINFO, ...);
    if (!fp)
        fp = (CURLcode(*)(CURL *, CURLINFO, ...))lazylib_sym(&lc, "curl_easy_getinfo");
    va_list ap;
    va_start(ap, info);
    CURLcode rc = fp(h, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}
