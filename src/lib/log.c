#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static enum pyro_log_level log_level = PYRO_LOG_WARN;
static pyro_log_sink log_sink;
static void *log_sink_data;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void pyro_log_set_level(enum pyro_log_level level)
{
    log_level = level;
}

enum pyro_log_level pyro_log_get_level(void)
{
    return log_level;
}

void pyro_log_set_sink(pyro_log_sink sink, void *userdata)
{
    log_sink = sink;
    log_sink_data = userdata;
}

const char *pyro_log_level_name(enum pyro_log_level level)
{
    if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
        return level_names[level];
    return "unknown";
}

int pyro_log_level_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (s && strcasecmp(s, level_names[i]) == 0)
            return (int)i;
    if (s && strcasecmp(s, "warning") == 0)
        return PYRO_LOG_WARN;
    return -1;
}

void pyro_log(enum pyro_log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (log_sink) {
        log_sink(log_sink_data, level, buf);
        return;
    }
    fprintf(stderr, "pyro: %s: %s\n", pyro_log_level_name(level), buf);
}
