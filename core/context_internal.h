/* libdiorama internals — the context (loaded plugins + registry) shared by the loader and the object
 * constructors (backends now; components and samplers later), so that each object can hold its
 * plugin loaded: a context refuses to unload while objects made from it are alive. */
#ifndef DIO_CONTEXT_INTERNAL_H
#define DIO_CONTEXT_INTERNAL_H

#include <stdatomic.h>

#include "diorama/diorama.h"

typedef struct dio_plugin_record {
    char *path;
    char *refusal; /* NULL when accepted */
    char *name, *version, *license, *description;
    void *handle;                            /* dlopen handle; NULL when refused */
    const dio_plugin_descriptor *descriptor; /* NULL when refused */
    int32_t kind;
    uint32_t abi_min, abi_max, abi_agreed;
} dio_plugin_record;

struct dio_context {
    dio_plugin_record *records;
    int32_t n_records, cap_records;
    atomic_int live_objects; /* backends/components/samplers not yet destroyed */
};

#endif
