/* libFuzzer harness for the plugin descriptor check (core/plugin_check.c), the code that reads what a
 * third-party plugin's entry returned. The input is a recipe, not a memory image (pointers cannot come
 * from bytes): it gives the descriptor's struct_size, kind and ABI range, which pointer fields are set,
 * the name's bytes, and for each kind's table its struct_size, which slots are NULL and its port and
 * parameter counts. Every struct is allocated with exactly the size it declares (at least the 8 bytes
 * that hold abi_version and struct_size), so a check that reads past what a plugin said it holds is an
 * ASan report. After the check: a refusal must say why; an acceptance must have a valid name, the
 * kind's table and an agreed ABI inside both ranges. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "plugin_check.h"

typedef struct recipe {
    const uint8_t *p;
    size_t n;
} recipe;

static uint32_t take(recipe *r, int bytes)
{
    uint32_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint32_t)(r->n ? *r->p : 0) << (8 * i);
        if (r->n) r->p++, r->n--;
    }
    return v;
}

/* ABI versions worth hitting: around the host's range and the extremes. */
static uint32_t take_abi(recipe *r)
{
    static const uint32_t pick[] = {DIO_ABI_MAKE(1, 0), DIO_ABI_MAKE(1, 1), DIO_ABI_MAKE(1, 2),
                                    DIO_ABI_MAKE(0, 9), DIO_ABI_MAKE(2, 0), 0,
                                    0xffffffffu};
    uint32_t sel = take(r, 1);
    return sel < 200 ? pick[sel % (sizeof pick / sizeof pick[0])] : take(r, 4);
}

static const char sentinel[16]; /* stands for every non-NULL function and port list: never called */

static void set_ptr(unsigned char *base, size_t alloc, size_t off, const void *value)
{
    if (off + sizeof(void *) <= alloc) memcpy(base + off, &value, sizeof value);
}

/* A table of `full` bytes in ABI terms, allocated as its declared struct_size (and at least 8). */
static unsigned char *make_table(recipe *r, size_t full, const size_t *slots, int n_slots,
                                 const size_t *counts, int n_counts, size_t *alloc_out)
{
    uint32_t declared = take(r, 2) % (uint32_t)(full + 24);
    size_t alloc = declared < 8 ? 8 : declared;
    unsigned char *t = malloc(alloc);
    uint32_t null_mask = take(r, 4);
    if (!t) abort();
    for (size_t i = 0; i < alloc; i++) t[i] = (unsigned char)take(r, 1);
    memcpy(t + 4, &declared, sizeof declared);
    for (int i = 0; i < n_slots; i++)
        set_ptr(t, alloc, slots[i], (null_mask >> (i % 32)) & 1 ? NULL : (const void *)sentinel);
    for (int i = 0; i < n_counts; i++) {
        int32_t c = (int8_t)take(r, 1) % 4;
        if (counts[i] + sizeof c <= alloc) memcpy(t + counts[i], &c, sizeof c);
    }
    *alloc_out = alloc;
    return t;
}

#define OFF(type, field) offsetof(type, field)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    recipe r = {data, size};
    const size_t full = sizeof(dio_plugin_descriptor);
    uint32_t dsize = take(&r, 1) % (uint32_t)(full + 16);
    size_t alloc = dsize < 4 ? 4 : dsize;
    unsigned char *d = malloc(alloc), *table = NULL;
    size_t table_alloc = 0;
    char name[96];
    uint32_t kind, set_mask, abi_min, abi_max;
    dio_descriptor_verdict v;
    if (!d) abort();
    memset(d, 0xa5, alloc);
    memcpy(d, &dsize, sizeof dsize);
    kind = take(&r, 1);
    kind = kind < 240 ? kind % 5 : take(&r, 4);
    abi_min = take_abi(&r);
    abi_max = take_abi(&r);
    if (alloc >= 8) memcpy(d + 4, &kind, 4);
    if (alloc >= 12) memcpy(d + 8, &abi_min, 4);
    if (alloc >= 16) memcpy(d + 12, &abi_max, 4);
    set_mask = take(&r, 1);
    {
        size_t len = take(&r, 1) % (sizeof name - 1);
        for (size_t i = 0; i < len; i++) name[i] = (char)take(&r, 1);
        name[len] = 0;
    }
    set_ptr(d, alloc, OFF(dio_plugin_descriptor, name), set_mask & 1 ? name : NULL);
    set_ptr(d, alloc, OFF(dio_plugin_descriptor, version), set_mask & 2 ? "1.0" : NULL);
    set_ptr(d, alloc, OFF(dio_plugin_descriptor, license), set_mask & 2 ? "MIT" : NULL);
    set_ptr(d, alloc, OFF(dio_plugin_descriptor, description), NULL);
    set_ptr(d, alloc, OFF(dio_plugin_descriptor, backend), NULL);
    set_ptr(d, alloc, OFF(dio_plugin_descriptor, component), NULL);
    set_ptr(d, alloc, OFF(dio_plugin_descriptor, sampler), NULL);
    if (set_mask & 4) {
        /* The table for the kind the recipe names (bits 3-4 may point it at another kind's field). */
        uint32_t which = ((set_mask >> 3) & 3) ? ((set_mask >> 3) & 3) : (kind >= 1 && kind <= 3 ? kind : 1);
        if (which == DIO_PLUGIN_BACKEND) {
            static const size_t slots[] = {
                OFF(dio_backend_iface, create),         OFF(dio_backend_iface, destroy),
                OFF(dio_backend_iface, device_count),   OFF(dio_backend_iface, device_props),
                OFF(dio_backend_iface, buffer_alloc),   OFF(dio_backend_iface, buffer_from_host),
                OFF(dio_backend_iface, buffer_free),    OFF(dio_backend_iface, buffer_size),
                OFF(dio_backend_iface, buffer_device),  OFF(dio_backend_iface, buffer_host_ptr),
                OFF(dio_backend_iface, buffer_upload),  OFF(dio_backend_iface, buffer_download),
                OFF(dio_backend_iface, buffer_copy),    OFF(dio_backend_iface, stream_create),
                OFF(dio_backend_iface, stream_destroy), OFF(dio_backend_iface, stream_sync),
                OFF(dio_backend_iface, supports_op),    OFF(dio_backend_iface, ops)};
            table = make_table(&r, sizeof(dio_backend_iface), slots, (int)(sizeof slots / sizeof slots[0]),
                               NULL, 0, &table_alloc);
            set_ptr(d, alloc, OFF(dio_plugin_descriptor, backend), table);
        } else if (which == DIO_PLUGIN_COMPONENT) {
            static const size_t slots[] = {
                OFF(dio_component_iface, inputs),  OFF(dio_component_iface, outputs),
                OFF(dio_component_iface, params),  OFF(dio_component_iface, create),
                OFF(dio_component_iface, destroy), OFF(dio_component_iface, output_shapes),
                OFF(dio_component_iface, run)};
            static const size_t counts[] = {OFF(dio_component_iface, n_inputs),
                                            OFF(dio_component_iface, n_outputs),
                                            OFF(dio_component_iface, n_params)};
            table = make_table(&r, sizeof(dio_component_iface), slots, (int)(sizeof slots / sizeof slots[0]),
                               counts, 3, &table_alloc);
            set_ptr(d, alloc, OFF(dio_plugin_descriptor, component), table);
        } else {
            static const size_t slots[] = {OFF(dio_sampler_iface, params),
                                           OFF(dio_sampler_iface, create),
                                           OFF(dio_sampler_iface, destroy),
                                           OFF(dio_sampler_iface, num_steps),
                                           OFF(dio_sampler_iface, schedule),
                                           OFF(dio_sampler_iface, step),
                                           OFF(dio_sampler_iface, initial_noise_scale)};
            static const size_t counts[] = {OFF(dio_sampler_iface, n_params)};
            table = make_table(&r, sizeof(dio_sampler_iface), slots, (int)(sizeof slots / sizeof slots[0]),
                               counts, 1, &table_alloc);
            set_ptr(d, alloc, OFF(dio_plugin_descriptor, sampler), table);
        }
    }

    dio_plugin_check_descriptor(set_mask & 0x80 ? NULL : (const dio_plugin_descriptor *)d,
                                DIO_ABI_VERSION_MIN, DIO_ABI_VERSION, &v);
    if (v.status != DIO_OK) {
        if (!v.why[0] || v.abi_agreed != 0) {
            fprintf(stderr, "fuzz: refused without a reason, or with an agreed ABI\n");
            abort();
        }
    } else {
        const dio_plugin_descriptor *pd = (const dio_plugin_descriptor *)d;
        const void *t = pd->kind == DIO_PLUGIN_BACKEND     ? (const void *)pd->backend
                        : pd->kind == DIO_PLUGIN_COMPONENT ? (const void *)pd->component
                                                           : (const void *)pd->sampler;
        uint32_t lo = abi_min > DIO_ABI_VERSION_MIN ? abi_min : DIO_ABI_VERSION_MIN;
        uint32_t hi = abi_max < DIO_ABI_VERSION ? abi_max : DIO_ABI_VERSION;
        if (v.why[0] || !dio_plugin_name_valid(pd->name) || !t || v.abi_agreed < lo || v.abi_agreed > hi ||
            pd->kind < DIO_PLUGIN_BACKEND || pd->kind > DIO_PLUGIN_SAMPLER) {
            fprintf(stderr, "fuzz: accepted a descriptor that breaks the rules\n");
            abort();
        }
    }
    free(table);
    free(d);
    (void)table_alloc;
    return 0;
}
