/* Leveled logging. The library logs only at DEBUG (and TRACE); front ends
 * choose the sink and level. Default sink: stderr, "pyro: LEVEL: message". */
#ifndef PYRO_LOG_H
#define PYRO_LOG_H

enum pyro_log_level { PYRO_LOG_ERROR = 0, PYRO_LOG_WARN, PYRO_LOG_INFO, PYRO_LOG_DEBUG, PYRO_LOG_TRACE };

typedef void (*pyro_log_sink)(void *userdata, enum pyro_log_level level, const char *message);

void pyro_log_set_level(enum pyro_log_level level);
enum pyro_log_level pyro_log_get_level(void);
void pyro_log_set_sink(pyro_log_sink sink, void *userdata);
const char *pyro_log_level_name(enum pyro_log_level level);
/* Parses "error|warn|info|debug|trace"; returns -1 when unknown. */
int pyro_log_level_parse(const char *s);
void pyro_log(enum pyro_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) pyro_log(PYRO_LOG_DEBUG, __VA_ARGS__)
#define log_trace(...) pyro_log(PYRO_LOG_TRACE, __VA_ARGS__)

#endif
