/* libmicrohttpd, loaded on first use (see src/base/lazylib.h): only the HTTP
 * transport needs it. Prototypes come from microhttpd.h. */
#include <microhttpd.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "base/lazylib.h"

static struct lazylib mhd = {.soname = PYRO_LIBMHD_SONAME};

LAZY_SHIM(mhd, enum MHD_Result, MHD_add_response_header, (struct MHD_Response * r, const char *h, const char *c),
          (r, h, c))
LAZY_SHIM(mhd, struct MHD_Response *, MHD_create_response_from_buffer,
          (size_t size, void *buffer, enum MHD_ResponseMemoryMode mode), (size, buffer, mode))
LAZY_SHIM(mhd, struct MHD_Response *, MHD_create_response_from_callback,
          (uint64_t size, size_t block, MHD_ContentReaderCallback crc, void *cls, MHD_ContentReaderFreeCallback f),
          (size, block, crc, cls, f))
LAZY_SHIM_VOID(mhd, MHD_destroy_response, (struct MHD_Response * r), (r))
LAZY_SHIM(mhd, enum MHD_Result, MHD_get_timeout, (struct MHD_Daemon * d, MHD_UNSIGNED_LONG_LONG *t), (d, t))
LAZY_SHIM(mhd, const char *, MHD_lookup_connection_value,
          (struct MHD_Connection * c, enum MHD_ValueKind kind, const char *key), (c, kind, key))
LAZY_SHIM(mhd, enum MHD_Result, MHD_queue_response,
          (struct MHD_Connection * c, unsigned int code, struct MHD_Response *r), (c, code, r))
LAZY_SHIM_VOID(mhd, MHD_resume_connection, (struct MHD_Connection * c), (c))
LAZY_SHIM_VOID(mhd, MHD_suspend_connection, (struct MHD_Connection * c), (c))
LAZY_SHIM(mhd, enum MHD_Result, MHD_run, (struct MHD_Daemon * d), (d))
LAZY_SHIM_VOID(mhd, MHD_stop_daemon, (struct MHD_Daemon * d), (d))

/* The two variadic entry points: forwarded through their va_list forms. */
struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc, void *apc_cls,
                                    MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    static struct MHD_Daemon *(*fp)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *, MHD_AccessHandlerCallback,
                                    void *, va_list);
    if (!fp)
        fp = (struct MHD_Daemon *
              (*)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *, MHD_AccessHandlerCallback, void *, va_list))
            lazylib_sym(&mhd, "MHD_start_daemon_va");
    va_list ap;
    va_start(ap, dh_cls);
    struct MHD_Daemon *d = fp(flags, port, apc, apc_cls, dh, dh_cls, ap);
    va_end(ap);
    return d;
}

/* pyro asks only for MHD_DAEMON_INFO_EPOLL_FD and _BIND_PORT, which take no extra
 * argument, so none is forwarded. */
const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *d, enum MHD_DaemonInfoType type, ...)
{
    static const union MHD_DaemonInfo *(*fp)(struct MHD_Daemon *, enum MHD_DaemonInfoType, ...);
    if (!fp)
        fp = (const union MHD_DaemonInfo *(*)(struct MHD_Daemon *, enum MHD_DaemonInfoType,
                                              ...))lazylib_sym(&mhd, "MHD_get_daemon_info");
    return fp(d, type);
}

/* pyro asks only for _SOCKET_CONTEXT, _CONNECTION_FD and _CLIENT_ADDRESS,
 * which take no extra argument either. */
const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *c, enum MHD_ConnectionInfoType type, ...)
{
    static const union MHD_ConnectionInfo *(*fp)(struct MHD_Connection *, enum MHD_ConnectionInfoType, ...);
    if (!fp)
        fp = (const union MHD_ConnectionInfo *(*)(struct MHD_Connection *, enum MHD_ConnectionInfoType,
                                                  ...))lazylib_sym(&mhd, "MHD_get_connection_info");
    return fp(c, type);
}
