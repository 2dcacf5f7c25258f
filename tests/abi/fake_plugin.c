/* A fake plugin for the ABI tests, compiled once per FAKE_VARIANT into its own libdio_fake_*.so.
 * Each variant breaks (or stretches) one rule of the plugin boundary; test_abi.c checks that the host
 * accepts or refuses it with the right message. The backend table is complete but does nothing:
 * what is tested is the loader, not a backend. */
#include <stdlib.h>

#include "diorama/backend.h"
#include "diorama/plugin.h"

#define V_GOOD 1            /* ABI [1.0, current]: accepted */
#define V_NEWER_MINOR 2     /* ABI [1.0, 1.7], descriptor with appended fields: accepted, agreed current */
#define V_NEWER_MAJOR 3     /* ABI [2.0, 2.1]: refused, ABI mismatch */
#define V_OLDER_MAJOR 4     /* ABI [0.1, 0.9]: refused, ABI mismatch */
#define V_NULL_DESC 5       /* entry returns OK and no descriptor: refused */
#define V_NO_TABLE 6        /* kind backend, NULL backend table: refused */
#define V_BAD_NAME 7        /* name with spaces and capitals: refused */
#define V_SHORT_DESC 8      /* descriptor struct_size too short for ABI 1.0: refused */
#define V_SHORT_TABLE 9     /* backend table struct_size too short: refused */
#define V_DUPLICATE 10      /* same name as V_GOOD, loaded after it: refused as duplicate */
#define V_ENTRY_FAILS 11    /* entry returns an error with a message: refused with that message */
#define V_MISSING_SLOT 12   /* backend table with a NULL required function: refused */
#define V_PLUGIN_REFUSES 13 /* reads the host's range and refuses it itself: ABI mismatch */
#define V_OLDER_MINOR 14    /* ABI [1.0, 1.0] exactly, a plugin built against the first 1.x: accepted */

#ifndef FAKE_VARIANT
#error FAKE_VARIANT must be defined
#endif

static dio_status fake_create(const dio_host_services *h, const dio_kv *o, size_t n, void **out)
{
    (void)h, (void)o, (void)n;
    *out = malloc(1);
    return *out ? DIO_OK : DIO_ERR_OUT_OF_HOST_MEMORY;
}
static void fake_destroy(void *ctx)
{
    free(ctx);
}
static int32_t fake_device_count(void *ctx)
{
    (void)ctx;
    return 1;
}
static dio_status fake_device_props(void *c, int32_t d, dio_device_props *p)
{
    (void)c, (void)d, (void)p;
    return DIO_ERR_NOT_SUPPORTED;
}
static dio_status fake_alloc(void *c, int32_t d, uint64_t s, dio_buffer **o)
{
    (void)c, (void)d, (void)s, (void)o;
    return DIO_ERR_NOT_SUPPORTED;
}
static dio_status fake_from_host(void *c, int32_t d, void *p, uint64_t s, uint32_t f, dio_buffer **o)
{
    (void)c, (void)d, (void)p, (void)s, (void)f, (void)o;
    return DIO_ERR_NOT_SUPPORTED;
}
static void fake_free(void *c, dio_buffer *b)
{
    (void)c, (void)b;
}
static uint64_t fake_size(void *c, const dio_buffer *b)
{
    (void)c, (void)b;
    return 0;
}
static int32_t fake_buf_device(void *c, const dio_buffer *b)
{
    (void)c, (void)b;
    return 0;
}
static void *fake_host_ptr(void *c, dio_buffer *b)
{
    (void)c, (void)b;
    return NULL;
}
static dio_status fake_upload(void *c, dio_stream *s, dio_buffer *d, uint64_t o, const void *p, uint64_t n)
{
    (void)c, (void)s, (void)d, (void)o, (void)p, (void)n;
    return DIO_ERR_NOT_SUPPORTED;
}
static dio_status fake_download(void *c, dio_stream *s, dio_buffer *d, uint64_t o, void *p, uint64_t n)
{
    (void)c, (void)s, (void)d, (void)o, (void)p, (void)n;
    return DIO_ERR_NOT_SUPPORTED;
}
static dio_status fake_copy(void *c, dio_stream *s, dio_buffer *d, uint64_t o, dio_buffer *b, uint64_t p,
                            uint64_t n)
{
    (void)c, (void)s, (void)d, (void)o, (void)b, (void)p, (void)n;
    return DIO_ERR_NOT_SUPPORTED;
}
static dio_status fake_stream_create(void *c, int32_t d, dio_stream **o)
{
    (void)c, (void)d;
    *o = (dio_stream *)malloc(1);
    return *o ? DIO_OK : DIO_ERR_OUT_OF_HOST_MEMORY;
}
static void fake_stream_destroy(void *c, dio_stream *s)
{
    (void)c;
    free(s);
}
static dio_status fake_sync(void *c, dio_stream *s)
{
    (void)c, (void)s;
    return DIO_OK;
}
static dio_status fake_supports(void *c, const dio_op_call *call)
{
    (void)c, (void)call;
    return DIO_ERR_NOT_SUPPORTED;
}
static const dio_op_fn fake_ops[1] = {NULL};

static const dio_backend_iface fake_iface = {
    .abi_version = DIO_ABI_VERSION,
#if FAKE_VARIANT == V_SHORT_TABLE
    .struct_size = 64,
#else
    .struct_size = sizeof(dio_backend_iface),
#endif
    .create = fake_create,
    .destroy = fake_destroy,
    .device_count = fake_device_count,
    .device_props = fake_device_props,
    .buffer_alloc = fake_alloc,
    .buffer_from_host = fake_from_host,
    .buffer_free = fake_free,
    .buffer_size = fake_size,
    .buffer_device = fake_buf_device,
    .buffer_host_ptr = fake_host_ptr,
    .buffer_upload = fake_upload,
#if FAKE_VARIANT != V_MISSING_SLOT
    .buffer_download = fake_download,
#endif
    .buffer_copy = fake_copy,
    .stream_create = fake_stream_create,
    .stream_destroy = fake_stream_destroy,
    .stream_sync = fake_sync,
    .supports_op = fake_supports,
    .op_count = 1,
    .ops = fake_ops,
};

/* A descriptor from a future minor version: the 1.0 fields, then fields this host does not know. */
typedef struct fake_descriptor_next {
    dio_plugin_descriptor base;
    const void *future_table;
    uint64_t future_flags;
} fake_descriptor_next;

static const fake_descriptor_next fake_descriptor = {
    .base =
        {
#if FAKE_VARIANT == V_NEWER_MINOR
            .struct_size = sizeof(fake_descriptor_next),
#elif FAKE_VARIANT == V_SHORT_DESC
            .struct_size = offsetof(dio_plugin_descriptor, backend),
#else
            .struct_size = sizeof(dio_plugin_descriptor),
#endif
            .kind = DIO_PLUGIN_BACKEND,
#if FAKE_VARIANT == V_NEWER_MINOR
            .abi_min = DIO_ABI_MAKE(1, 0),
            .abi_max = DIO_ABI_MAKE(1, 7),
#elif FAKE_VARIANT == V_NEWER_MAJOR
            .abi_min = DIO_ABI_MAKE(2, 0),
            .abi_max = DIO_ABI_MAKE(2, 1),
#elif FAKE_VARIANT == V_OLDER_MAJOR
            .abi_min = DIO_ABI_MAKE(0, 1),
            .abi_max = DIO_ABI_MAKE(0, 9),
#elif FAKE_VARIANT == V_OLDER_MINOR
            .abi_min = DIO_ABI_MAKE(1, 0),
            .abi_max = DIO_ABI_MAKE(1, 0),
#else
            .abi_min = DIO_ABI_MAKE(1, 0),
            .abi_max = DIO_ABI_VERSION,
#endif
#if FAKE_VARIANT == V_BAD_NAME
            .name = "Fake Backend!",
#elif FAKE_VARIANT == V_DUPLICATE || FAKE_VARIANT == V_GOOD
            .name = "fake-good",
#elif FAKE_VARIANT == V_NEWER_MINOR
            .name = "fake-newer-minor",
#elif FAKE_VARIANT == V_OLDER_MINOR
            .name = "fake-older-minor",
#else
            .name = "fake-other",
#endif
            .version = "0.0.1",
            .license = "Apache-2.0",
            .description = "a fake backend for the ABI tests",
#if FAKE_VARIANT != V_NO_TABLE
            .backend = &fake_iface,
#endif
        },
    .future_table = NULL,
    .future_flags = 0,
};

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
#if FAKE_VARIANT == V_NULL_DESC
    (void)host, (void)fake_descriptor;
    *out = NULL;
    return DIO_OK;
#elif FAKE_VARIANT == V_ENTRY_FAILS
    (void)out, (void)fake_descriptor;
    return host->services->set_error(DIO_ERR_NOT_SUPPORTED, "fake plugin needs a device this machine lacks");
#elif FAKE_VARIANT == V_PLUGIN_REFUSES
    (void)out, (void)fake_descriptor;
    return host->services->set_error(DIO_ERR_ABI_MISMATCH,
                                     "fake plugin wants host ABI >= 9.0, host offers up to %u.%u",
                                     DIO_ABI_MAJOR(host->abi_max), DIO_ABI_MINOR(host->abi_max));
#else
    (void)host;
    *out = &fake_descriptor.base;
    return DIO_OK;
#endif
}
