/* libdiorama — the per-thread error message behind dio_last_error().
 *
 * One fixed buffer per thread (C11 _Thread_local): setting an error never allocates, so it works when
 * memory is what ran out, and a message never crosses threads. Messages longer than the buffer are
 * truncated. */
#include <stdarg.h>
#include <stdio.h>

#include "diorama/diorama.h"

static _Thread_local char dio_error_message[2048];

const char *dio_last_error(void)
{
    return dio_error_message;
}

void dio_clear_error(void)
{
    dio_error_message[0] = 0;
}

dio_status dio_set_error(dio_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dio_error_message, sizeof(dio_error_message), fmt, ap);
    va_end(ap);
    dio_log(DIO_LOG_DEBUG, "error", "%s: %s", dio_status_name(status), dio_error_message);
    return status;
}
