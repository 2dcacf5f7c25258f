/* diorama ABI — the ABI version, separate from the product version.
 *
 * An ABI version is one integer: major << 16 | minor. Minor versions only append (new table slots, new
 * struct fields at the end, new enum values); a major version may break. Each side of the plugin
 * boundary states the range [min, max] it can speak; the host and a plugin agree on
 * min(host.max, plugin.max) when the ranges overlap and refuse the plugin (naming the file and both
 * ranges) when they do not. */
#ifndef DIORAMA_VERSION_H
#define DIORAMA_VERSION_H

#include <stdint.h>

#define DIO_ABI_MAKE(major, minor) ((uint32_t)(((uint32_t)(major) << 16) | ((uint32_t)(minor)&0xffffu)))
#define DIO_ABI_MAJOR(v) ((uint32_t)(v) >> 16)
#define DIO_ABI_MINOR(v) ((uint32_t)(v)&0xffffu)

/* The ABI these headers describe. */
#define DIO_ABI_VERSION_MAJOR 1
#define DIO_ABI_VERSION_MINOR 1
#define DIO_ABI_VERSION DIO_ABI_MAKE(DIO_ABI_VERSION_MAJOR, DIO_ABI_VERSION_MINOR)

/* The oldest ABI a host built from these headers still accepts from a plugin. */
#define DIO_ABI_VERSION_MIN DIO_ABI_MAKE(1, 0)

/* The negotiation rule, shared by the host and any plugin that wants to check for itself: 1 and the
 * agreed version when the ranges [a_min, a_max] and [b_min, b_max] overlap, 0 otherwise (an empty range
 * never meets anything). The agreed version is the newest both speak. */
static inline int dio_abi_negotiate(uint32_t a_min, uint32_t a_max, uint32_t b_min, uint32_t b_max,
                                    uint32_t *agreed)
{
    uint32_t hi = a_max < b_max ? a_max : b_max;
    uint32_t lo = a_min > b_min ? a_min : b_min;
    if (a_min > a_max || b_min > b_max || lo > hi) return 0;
    if (agreed) *agreed = hi;
    return 1;
}

/* The product version (of libdiorama and the bundled plugins). */
#define DIO_VERSION_MAJOR 0
#define DIO_VERSION_MINOR 1
#define DIO_VERSION_PATCH 0
#define DIO_VERSION_STRING "0.1.0"

#endif
