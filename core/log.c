#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int current_level = LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
        if (name && strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(int level)
{
    current_level = level;
}

int log_get_level(void)
{
    return current_level;
}

void log_vtagged(int level, const char *tag, const char *fmt, va_list ap)
{
    if (level > current_level)
        return;
    if (level < LOG_ERROR)
        level = LOG_ERROR;
    if (level > LOG_DEBUG)
        level = LOG_DEBUG;

    char stamp[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    /* One fprintf of a preformatted line keeps lines whole across threads. */
    char line[2048];
    int n = snprintf(line, sizeof(line), "%s.%03ldZ %-5s %s%s", stamp, now.tv_nsec / 1000000,
                     level_names[level], tag ? tag : "", tag ? ": " : "");
    if (n < 0 || (size_t)n >= sizeof(line))
        n = 0;
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    fprintf(stderr, "%s\n", line);
}

void log_tagged(int level, const char *tag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vtagged(level, tag, fmt, ap);
    va_end(ap);
}

void log_msg(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vtagged(level, NULL, fmt, ap);
    va_end(ap);
}
