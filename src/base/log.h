/* Leveled logging. The library logs only at DEBUG (and TRACE); front ends
 * choose the sink and level. Default sink: stderr, "pyro: LEVEL: message". */
#ifndef PYRO_LOG_H
#define PYRO_LOG_H

enum log_level { PYRO_LOG_ERROR = 0, PYRO_LOG_WARN, PYRO_LOG_INFO, PYRO_LOG_DEBUG, PYRO_LOG_TRACE };

typedef void (*log_sink)(void *userdata, enum log_level level, const char *message);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_sink(log_sink sink, void *userdata);
const char *log_level_name(enum log_level level);
/* Parses "error|warn|info|debug|trace"; returns -1 when unknown. */
int log_level_parse(const char *s);
/* Messages are redacted with r (base/redact.h) from now on; NULL: none. */
struct redact;
void log_set_redact(const struct redact *r);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(PYRO_LOG_DEBUG, __VA_ARGS__)
#define log_trace(...) log_msg(PYRO_LOG_TRACE, __VA_ARGS__)

#endif
