#include "base/log.h"

#include "base/redact.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static enum log_level cur_level = PYRO_LOG_WARN;
static log_sink cur_sink;
static void *cur_sink_data;
static const struct redact *cur_redact;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void log_set_level(enum log_level level)
{
    cur_level = level;
}

enum log_level log_get_level(void)
{
    return cur_level;
}

void log_set_sink(log_sink sink, void *userdata)
{
    cur_sink = sink;
    cur_sink_data = userdata;
}

void log_set_redact(const struct redact *r)
{
    cur_redact = r;
}

const char *log_level_name(enum log_level level)
{
    if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
        return level_names[level];
    return "unknown";
}

int log_level_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (s && strcasecmp(s, level_names[i]) == 0)
            return (int)i;
    if (s && strcasecmp(s, "warning") == 0)
        return PYRO_LOG_WARN;
    return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > cur_level)
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    redact_message(cur_redact, buf, sizeof(buf));
    if (cur_sink) {
        cur_sink(cur_sink_data, level, buf);
        return;
    }
    fprintf(stderr, "pyro: %s: %s\n", log_level_name(level), buf);
}
