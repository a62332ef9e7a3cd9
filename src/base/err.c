#include "base/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int code;
    const char *name;
} err_codes[] = {
    {PYRO_E_INVALID, "invalid_argument"}, {PYRO_E_NOT_FOUND, "not_found"},     {PYRO_E_STATE, "invalid_state"},
    {PYRO_E_LIMIT, "limit_exceeded"},     {PYRO_E_UNSUPPORTED, "unsupported"}, {PYRO_E_PROTOCOL, "protocol_error"},
    {PYRO_E_TIMEOUT, "timeout"},          {PYRO_E_CORRUPT, "corrupt"},         {PYRO_E_BUSY, "busy"},
    {PYRO_E_CANCELLED, "cancelled"},
};

const char *pyro_error_name(int code)
{
    if (code >= 0)
        return "ok";
    for (size_t i = 0; i < sizeof(err_codes) / sizeof(err_codes[0]); i++)
        if (err_codes[i].code == -code)
            return err_codes[i].name;
    switch (-code) {
    case ENOENT: return "enoent";
    case EACCES: return "eacces";
    case EPERM: return "eperm";
    case EEXIST: return "eexist";
    case ENOSPC: return "enospc";
    case ENOMEM: return "enomem";
    case EIO: return "eio";
    case EINTR: return "eintr";
    default: return "system_error";
    }
}

bool pyro_error_is_usage(int code)
{
    return code == -PYRO_E_INVALID || code == -PYRO_E_NOT_FOUND;
}

__attribute__((format(printf, 2, 0))) static void set_msg(pyro_error *err, const char *fmt, va_list ap)
{
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

int err_set(pyro_error *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    set_msg(err, fmt, ap);
    va_end(ap);
    return code;
}

int err_errno(pyro_error *err, int errnum, const char *fmt, ...)
{
    if (errnum <= 0)
        errnum = EIO;
    if (!err)
        return -errnum;
    va_list ap;
    va_start(ap, fmt);
    err->code = -errnum;
    set_msg(err, fmt, ap);
    va_end(ap);
    size_t len = strlen(err->message);
    snprintf(err->message + len, sizeof(err->message) - len, ": %s", strerror(errnum));
    return -errnum;
}

int err_prefix(pyro_error *err, const char *fmt, ...)
{
    if (!err)
        return -EIO;
    char ctx[PYRO_ERROR_MESSAGE_MAX];
    char old[PYRO_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof(old));
    old[sizeof(old) - 1] = '\0';
    size_t cl = strnlen(ctx, sizeof(err->message) - 1);
    memcpy(err->message, ctx, cl);
    /* "context: message", cut at the buffer's end */
    size_t room = sizeof(err->message) - cl;
    if (room > 2) {
        err->message[cl] = ':';
        err->message[cl + 1] = ' ';
        size_t ol = strnlen(old, room - 3);
        memcpy(err->message + cl + 2, old, ol);
        err->message[cl + 2 + ol] = '\0';
    } else
        err->message[cl] = '\0';
    if (err->code == 0)
        err->code = -EIO;
    return err->code;
}

void err_clear(pyro_error *err)
{
    if (err) {
        err->code = 0;
        err->message[0] = '\0';
    }
}
