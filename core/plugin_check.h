/* libdiorama internals — the check of a plugin's descriptor, split from the loader so that it can be
 * driven without dlopen (tests/fuzz/fuzz_plugin_descriptor.c feeds it descriptors built from bytes).
 * The check reads only what the descriptor's own struct_size says it holds, and a kind's table only
 * after its struct_size says the ABI 1.0 fields are there. */
#ifndef DIO_PLUGIN_CHECK_H
#define DIO_PLUGIN_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "diorama/diorama.h"

typedef struct dio_descriptor_verdict {
    dio_status status;   /* DIO_OK: accepted; BAD_FORMAT or ABI_MISMATCH: refused, why says why */
    int header_readable; /* kind, abi_min, abi_max and name lie inside the declared struct */
    uint32_t abi_agreed; /* the negotiated ABI when accepted, else 0 */
    char why[1024];      /* the reason for a refusal ("" when accepted) */
} dio_descriptor_verdict;

/* Checks D (which may be NULL) against the host range [HOST_MIN, HOST_MAX]: sizes, the ABI range and
 * its overlap, the name, the kind and its table. Duplicates are the registry's business, not this. */
void dio_plugin_check_descriptor(const dio_plugin_descriptor *d, uint32_t host_min, uint32_t host_max,
                                 dio_descriptor_verdict *v);

/* 1 when S is a registry name: [a-z0-9_.-]{1,63}. */
int dio_plugin_name_valid(const char *s);

#endif
