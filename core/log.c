/* libdiorama — the levelled logger.
 *
 * Lines go to stderr as "diorama[who] level: message". The level is read once from the environment
 * (DIORAMA_DEBUG=1 turns on debug; DIORAMA_LOG=error|warn|info|debug picks one) and can be changed with
 * dio_log_set_level. The level is an atomic so plugins on worker threads may log concurrently. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/diorama.h"

static atomic_int dio_log_level_value = -1; /* -1: not yet read from the environment */

static int dio_log_level_from_env(void)
{
    const char *dbg = getenv("DIORAMA_DEBUG");
    const char *lvl = getenv("DIORAMA_LOG");
    if (dbg && dbg[0] && strcmp(dbg, "0") != 0) return DIO_LOG_DEBUG;
    if (lvl) {
        if (strcmp(lvl, "error") == 0) return DIO_LOG_ERROR;
        if (strcmp(lvl, "warn") == 0) return DIO_LOG_WARN;
        if (strcmp(lvl, "info") == 0) return DIO_LOG_INFO;
        if (strcmp(lvl, "debug") == 0) return DIO_LOG_DEBUG;
    }
    return DIO_LOG_WARN;
}

dio_log_level dio_log_get_level(void)
{
    int v = atomic_load(&dio_log_level_value);
    if (v < 0) {
        v = dio_log_level_from_env();
        atomic_store(&dio_log_level_value, v);
    }
    return (dio_log_level)v;
}

void dio_log_set_level(dio_log_level level)
{
    atomic_store(&dio_log_level_value, (int)level);
}

static void dio_vlog(dio_log_level level, const char *who, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char line[2048];
    if ((int)level > (int)dio_log_get_level()) return;
    vsnprintf(line, sizeof(line), fmt, ap);
    fprintf(stderr, "diorama[%s] %s: %s\n", who ? who : "core",
            (level >= DIO_LOG_ERROR && level <= DIO_LOG_DEBUG) ? names[level] : "log", line);
}

void dio_log(dio_log_level level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dio_vlog(level, who, fmt, ap);
    va_end(ap);
}
