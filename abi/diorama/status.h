/* diorama ABI — status codes shared by the host, plugins and applications.
 *
 * Every fallible call in the ABI returns a dio_status. The human-readable message that goes with a
 * failure is per-thread: the host keeps it and applications read it with dio_last_error() (declared in
 * diorama.h); plugins set it through the host service table (plugin.h), because they never link the
 * host library. Values are fixed forever; new codes are appended. */
#ifndef DIORAMA_STATUS_H
#define DIORAMA_STATUS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dio_status {
    DIO_OK = 0,
    DIO_ERR_INVALID_ARGUMENT = 1,
    DIO_ERR_NOT_SUPPORTED = 2,
    DIO_ERR_OUT_OF_HOST_MEMORY = 3,
    DIO_ERR_OUT_OF_DEVICE_MEMORY = 4,
    DIO_ERR_IO = 5,
    DIO_ERR_BAD_FORMAT = 6,
    DIO_ERR_ABI_MISMATCH = 7,
    DIO_ERR_BACKEND_FAILURE = 8,
    DIO_ERR_CANCELLED = 9,
    DIO_ERR_INTERNAL = 10,
    DIO_STATUS_FORCE_32BIT = 0x7fffffff
} dio_status;

/* Short stable name of a status ("OK", "INVALID_ARGUMENT", ...); "UNKNOWN_STATUS" for others.
 * Static inline so that plugins get it without linking the host. */
static inline const char *dio_status_name(dio_status s)
{
    switch (s) {
    case DIO_OK: return "OK";
    case DIO_ERR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case DIO_ERR_NOT_SUPPORTED: return "NOT_SUPPORTED";
    case DIO_ERR_OUT_OF_HOST_MEMORY: return "OUT_OF_HOST_MEMORY";
    case DIO_ERR_OUT_OF_DEVICE_MEMORY: return "OUT_OF_DEVICE_MEMORY";
    case DIO_ERR_IO: return "IO";
    case DIO_ERR_BAD_FORMAT: return "BAD_FORMAT";
    case DIO_ERR_ABI_MISMATCH: return "ABI_MISMATCH";
    case DIO_ERR_BACKEND_FAILURE: return "BACKEND_FAILURE";
    case DIO_ERR_CANCELLED: return "CANCELLED";
    case DIO_ERR_INTERNAL: return "INTERNAL";
    default: return "UNKNOWN_STATUS";
    }
}

#ifdef __cplusplus
}
#endif
#endif
