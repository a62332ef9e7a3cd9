/* libarchive, loaded on first use (see lazylib.h). Only the functions pyro
 * calls are here; the prototypes come from libarchive's own headers. */
#include <archive.h>
#include <archive_entry.h>

#include "base/lazylib.h"

static struct lazylib la = {.soname = PYRO_LIBARCHIVE_SONAME};

LAZY_SHIM(la, struct archive *, archive_read_new, (void), ())
LAZY_SHIM(la, struct archive *, archive_write_new, (void), ())
LAZY_SHIM(la, int, archive_read_free, (struct archive * a), (a))
LAZY_SHIM(la, int, archive_write_free, (struct archive * a), (a))
LAZY_SHIM(la, int, archive_write_close, (struct archive * a), (a))
LAZY_SHIM(la, const char *, archive_error_string, (struct archive * a), (a))
LAZY_SHIM(la, int, archive_read_support_filter_gzip, (struct archive * a), (a))
LAZY_SHIM(la, int, archive_read_support_filter_zstd, (struct archive * a), (a))
LAZY_SHIM(la, int, archive_read_support_filter_none, (struct archive * a), (a))
LAZY_SHIM(la, int, archive_read_support_format_tar, (struct archive * a), (a))
LAZY_SHIM(la, int, archive_write_set_format_pax_restricted, (struct archive * a), (a))
LAZY_SHIM(la, int, archive_write_set_bytes_in_last_block, (struct archive * a, int n), (a, n))
LAZY_SHIM(la, int, archive_read_open_fd, (struct archive * a, int fd, size_t bs), (a, fd, bs))
LAZY_SHIM(la, int, archive_read_open_filename, (struct archive * a, const char *f, size_t bs), (a, f, bs))
LAZY_SHIM(la, int, archive_write_open_fd, (struct archive * a, int fd), (a, fd))
LAZY_SHIM(la, int, archive_read_next_header, (struct archive * a, struct archive_entry **e), (a, e))
LAZY_SHIM(la, la_ssize_t, archive_read_data, (struct archive * a, void *buf, size_t n), (a, buf, n))
LAZY_SHIM(la, int, archive_write_header, (struct archive * a, struct archive_entry *e), (a, e))
LAZY_SHIM(la, la_ssize_t, archive_write_data, (struct archive * a, const void *buf, size_t n), (a, buf, n))
LAZY_SHIM(la, struct archive_entry *, archive_entry_new, (void), ())
LAZY_SHIM_VOID(la, archive_entry_free, (struct archive_entry * e), (e))
LAZY_SHIM(la, __LA_MODE_T, archive_entry_filetype, (struct archive_entry * e), (e))
LAZY_SHIM(la, __LA_MODE_T, archive_entry_perm, (struct archive_entry * e), (e))
LAZY_SHIM(la, const char *, archive_entry_pathname, (struct archive_entry * e), (e))
LAZY_SHIM(la, const char *, archive_entry_hardlink, (struct archive_entry * e), (e))
LAZY_SHIM(la, const char *, archive_entry_symlink, (struct archive_entry * e), (e))
LAZY_SHIM(la, time_t, archive_entry_mtime, (struct archive_entry * e), (e))
LAZY_SHIM(la, la_int64_t, archive_entry_uid, (struct archive_entry * e), (e))
LAZY_SHIM(la, la_int64_t, archive_entry_gid, (struct archive_entry * e), (e))
LAZY_SHIM(la, la_int64_t, archive_entry_size, (struct archive_entry * e), (e))
LAZY_SHIM_VOID(la, archive_entry_set_filetype, (struct archive_entry * e, unsigned int t), (e, t))
LAZY_SHIM_VOID(la, archive_entry_set_perm, (struct archive_entry * e, __LA_MODE_T m), (e, m))
LAZY_SHIM_VOID(la, archive_entry_set_pathname, (struct archive_entry * e, const char *p), (e, p))
LAZY_SHIM_VOID(la, archive_entry_set_hardlink, (struct archive_entry * e, const char *p), (e, p))
LAZY_SHIM_VOID(la, archive_entry_set_symlink, (struct archive_entry * e, const char *p), (e, p))
LAZY_SHIM(la, dev_t, archive_entry_rdevmajor, (struct archive_entry * e), (e))
LAZY_SHIM(la, dev_t, archive_entry_rdevminor, (struct archive_entry * e), (e))
LAZY_SHIM_VOID(la, archive_entry_set_rdevmajor, (struct archive_entry * e, dev_t m), (e, m))
LAZY_SHIM_VOID(la, archive_entry_set_rdevminor, (struct archive_entry * e, dev_t m), (e, m))
LAZY_SHIM_VOID(la, archive_entry_set_uid, (struct archive_entry * e, la_int64_t id), (e, id))
LAZY_SHIM_VOID(la, archive_entry_set_gid, (struct archive_entry * e, la_int64_t id), (e, id))
LAZY_SHIM_VOID(la, archive_entry_set_size, (struct archive_entry * e, la_int64_t s), (e, s))
LAZY_SHIM_VOID(la, archive_entry_set_mtime, (struct archive_entry * e, time_t t, long ns), (e, t, ns))
LAZY_SHIM(la, int, archive_write_add_filter_gzip, (struct archive * a), (a))
LAZY_SHIM(la, int, archive_write_set_filter_option, (struct archive * a, const char *m, const char *o, const char *v),
          (a, m, o, v))
LAZY_SHIM(la, int, archive_write_set_format_raw, (struct archive * a), (a))
LAZY_SHIM(la, int, archive_write_set_bytes_per_block, (struct archive * a, int n), (a, n))
LAZY_SHIM(la, int, archive_write_open2,
          (struct archive * a, void *d, archive_open_callback *o, archive_write_callback *w, archive_close_callback *c,
           archive_free_callback *f),
          (a, d, o, w, c, f))
