/* libdiorama — the service table handed to every plugin (log, aligned allocation, errors, config).
 *
 * Plugins never link libdiorama, so these are the only host functions they can reach; the table is a
 * constant with static storage, valid for the life of the process. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diorama/diorama.h"

static void host_log(dio_log_level level, const char *who, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    if ((int)level > (int)dio_log_get_level()) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    dio_log(level, who, "%s", line);
}

static void *host_alloc_aligned(size_t size, size_t alignment)
{
    void *p = NULL;
    if (alignment < sizeof(void *) || (alignment & (alignment - 1))) return NULL;
    if (posix_memalign(&p, alignment, size ? size : 1) != 0) return NULL;
    return p;
}

static void host_free_aligned(void *ptr)
{
    free(ptr);
}

static dio_status host_set_error(dio_status status, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return dio_set_error(status, "%s", msg);
}

static const char *host_get_config(const char *key)
{
    if (!key || strncmp(key, "DIORAMA_", 8) != 0) return NULL;
    return getenv(key);
}

static const dio_host_services dio_services = {
    .abi_version = DIO_ABI_VERSION,
    .struct_size = sizeof(dio_host_services),
    .log = host_log,
    .alloc_aligned = host_alloc_aligned,
    .free_aligned = host_free_aligned,
    .set_error = host_set_error,
    .get_config = host_get_config,
};

const dio_host_services *dio_host_services_get(void)
{
    return &dio_services;
}
