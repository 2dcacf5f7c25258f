/* CPU backend — the plugin entry, the backend table, devices, buffers, streams and op dispatch.
 *
 * One device ("cpu:0"): host memory. Buffers are 64-byte aligned host allocations, or wrap host
 * memory the caller owns (mmap'd weights: zero-copy, read-only when flagged). Streams are synchronous —
 * every op has finished when it returns — so stream_sync is a no-op and transfers are memcpy. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <omp.h>

#include "cpu_internal.h"
#include "diorama/plugin.h"

#define CPU_ALIGNMENT 64

static const dio_host_services *g_host; /* set by the entry; immutable afterwards */

typedef struct cpu_op_entry {
    dio_op_fn run;
    dio_status (*check)(const cpu_backend *be, const dio_op_call *call);
} cpu_op_entry;

#define CPU_OP(id, name) [id] = {cpu_op_##name, cpu_check_##name}
static const cpu_op_entry cpu_op_entries[DIO_OP_COUNT_1_0] = {
    CPU_OP(DIO_OP_MATMUL, matmul),
    CPU_OP(DIO_OP_ATTENTION, attention),
    CPU_OP(DIO_OP_LAYERNORM, layernorm),
    CPU_OP(DIO_OP_RMSNORM, rmsnorm),
    CPU_OP(DIO_OP_ADALN_MODULATE, adaln_modulate),
    CPU_OP(DIO_OP_GATED_RESIDUAL, gated_residual),
    CPU_OP(DIO_OP_ROPE, rope),
    CPU_OP(DIO_OP_GELU, gelu),
    CPU_OP(DIO_OP_SILU, silu),
    CPU_OP(DIO_OP_SWIGLU, swiglu),
    CPU_OP(DIO_OP_CONV3D, conv3d),
    CPU_OP(DIO_OP_CONV2D, conv2d),
    CPU_OP(DIO_OP_CHANNEL_RMSNORM, channel_rmsnorm),
    CPU_OP(DIO_OP_UPSAMPLE_NEAREST, upsample_nearest),
    CPU_OP(DIO_OP_SOFTMAX, softmax),
    CPU_OP(DIO_OP_ADD, add),
    CPU_OP(DIO_OP_MUL, mul),
    CPU_OP(DIO_OP_AXPBY, axpby),
    CPU_OP(DIO_OP_CLAMP, clamp),
    CPU_OP(DIO_OP_GATHER, gather),
    CPU_OP(DIO_OP_COPY, copy),
    CPU_OP(DIO_OP_CONCAT, concat),
    CPU_OP(DIO_OP_SLICE, slice),
    CPU_OP(DIO_OP_PERMUTE, permute),
    CPU_OP(DIO_OP_PATCHIFY, patchify),
    CPU_OP(DIO_OP_UNPATCHIFY, unpatchify),
};
#undef CPU_OP

static dio_op_fn cpu_op_table[DIO_OP_COUNT_1_0];

static int cpu_parse_threads(const char *s, int *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!s[0] || *end || v < 1 || v > 4096) return 0;
    *out = (int)v;
    return 1;
}

static dio_status cpu_create(const dio_host_services *host, const dio_kv *options, size_t n_options,
                             void **out_ctx)
{
    cpu_backend *be = NULL;
    int threads = 0;
    if (!host || !out_ctx) return DIO_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n_options; i++) {
        if (!options[i].key || !options[i].value) continue;
        if (strcmp(options[i].key, "threads") == 0) {
            if (!cpu_parse_threads(options[i].value, &threads))
                return host->set_error(DIO_ERR_INVALID_ARGUMENT,
                                       "cpu backend: option threads=\"%s\" is not an integer in 1..4096",
                                       options[i].value);
        } else {
            host->log(DIO_LOG_DEBUG, "cpu", "ignoring unknown option %s", options[i].key);
        }
    }
    be = calloc(1, sizeof(*be));
    if (!be) return host->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "cpu backend: out of memory");
    be->host = host;
    be->n_threads = threads > 0 ? threads : omp_get_max_threads();
    *out_ctx = be;
    return DIO_OK;
}

static void cpu_destroy(void *ctx)
{
    cpu_backend *be = ctx;
    if (!be) return;
    cpu_dnnl_release(be);
    free(be);
}

static int32_t cpu_device_count(void *ctx)
{
    (void)ctx;
    return 1;
}

static dio_status cpu_device_props(void *ctx, int32_t device, dio_device_props *out)
{
    cpu_backend *be = ctx;
    dio_device_props p;
    long pages, page_size, avail;
    if (!be || !out) return DIO_ERR_INVALID_ARGUMENT;
    if (device != 0)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "cpu backend: no device %d (only 0)", device);
    memset(&p, 0, sizeof(p));
    p.struct_size = (uint32_t)sizeof(p);
    p.type = DIO_DEVICE_CPU;
    snprintf(p.name, sizeof(p.name), "cpu (%d threads)", be->n_threads);
    pages = sysconf(_SC_PHYS_PAGES);
    avail = sysconf(_SC_AVPHYS_PAGES);
    page_size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page_size > 0) p.total_memory = (uint64_t)pages * (uint64_t)page_size;
    if (avail > 0 && page_size > 0) p.free_memory = (uint64_t)avail * (uint64_t)page_size;
    p.compute_units = be->n_threads;
    p.caps = DIO_CAP_HOST_MEMORY;
    p.alignment = CPU_ALIGNMENT;
    /* Copy only what the caller's struct holds. */
    {
        uint32_t n =
            out->struct_size && out->struct_size < sizeof(p) ? out->struct_size : (uint32_t)sizeof(p);
        memcpy(out, &p, n);
        out->struct_size = n;
    }
    return DIO_OK;
}

static dio_status cpu_buffer_alloc(void *ctx, int32_t device, uint64_t size, dio_buffer **out)
{
    cpu_backend *be = ctx;
    dio_buffer *b = NULL;
    if (!be || !out) return DIO_ERR_INVALID_ARGUMENT;
    if (device != 0) return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "cpu backend: no device %d", device);
    if (size > (uint64_t)SIZE_MAX - CPU_ALIGNMENT)
        return cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "cpu backend: buffer of %llu bytes is too large",
                         (unsigned long long)size);
    b = calloc(1, sizeof(*b));
    if (!b) goto oom;
    b->data = be->host->alloc_aligned(size ? (size_t)size : 1, CPU_ALIGNMENT);
    if (!b->data) goto oom;
    b->size = size;
    b->owned = 1;
    *out = b;
    return DIO_OK;
oom:
    free(b);
    return cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "cpu backend: cannot allocate a buffer of %llu bytes",
                     (unsigned long long)size);
}

static dio_status cpu_buffer_from_host(void *ctx, int32_t device, void *host_ptr, uint64_t size,
                                       uint32_t flags, dio_buffer **out)
{
    cpu_backend *be = ctx;
    dio_buffer *b;
    if (!be || !out || (!host_ptr && size)) return DIO_ERR_INVALID_ARGUMENT;
    if (device != 0) return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "cpu backend: no device %d", device);
    b = calloc(1, sizeof(*b));
    if (!b) return cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "cpu backend: out of memory");
    b->data = host_ptr;
    b->size = size;
    b->owned = 0;
    b->flags = flags;
    *out = b;
    return DIO_OK;
}

static void cpu_buffer_free(void *ctx, dio_buffer *b)
{
    cpu_backend *be = ctx;
    if (!b) return;
    if (b->owned && be) be->host->free_aligned(b->data);
    free(b);
}

static uint64_t cpu_buffer_size(void *ctx, const dio_buffer *b)
{
    (void)ctx;
    return b ? b->size : 0;
}

static int32_t cpu_buffer_device(void *ctx, const dio_buffer *b)
{
    (void)ctx;
    return b ? 0 : -1;
}

static void *cpu_buffer_host_ptr(void *ctx, dio_buffer *b)
{
    (void)ctx;
    return b ? b->data : NULL;
}

static dio_status cpu_check_range(const cpu_backend *be, const dio_buffer *b, uint64_t off, uint64_t size,
                                  const char *what)
{
    if (!b) return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "cpu backend: %s: NULL buffer", what);
    if (off > b->size || size > b->size - off)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT,
                         "cpu backend: %s of %llu bytes at offset %llu overruns a buffer of %llu bytes", what,
                         (unsigned long long)size, (unsigned long long)off, (unsigned long long)b->size);
    return DIO_OK;
}

static dio_status cpu_buffer_upload(void *ctx, dio_stream *stream, dio_buffer *dst, uint64_t dst_offset,
                                    const void *src, uint64_t size)
{
    cpu_backend *be = ctx;
    dio_status st;
    (void)stream;
    if (!be || (!src && size)) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_range(be, dst, dst_offset, size, "upload")) != DIO_OK) return st;
    if (dst->flags & DIO_HOST_BUFFER_READ_ONLY)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "cpu backend: upload into a read-only buffer");
    if (size) memcpy(dst->data + dst_offset, src, (size_t)size);
    return DIO_OK;
}

static dio_status cpu_buffer_download(void *ctx, dio_stream *stream, dio_buffer *src, uint64_t src_offset,
                                      void *dst, uint64_t size)
{
    cpu_backend *be = ctx;
    dio_status st;
    (void)stream;
    if (!be || (!dst && size)) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_range(be, src, src_offset, size, "download")) != DIO_OK) return st;
    if (size) memcpy(dst, src->data + src_offset, (size_t)size);
    return DIO_OK;
}

static dio_status cpu_buffer_copy(void *ctx, dio_stream *stream, dio_buffer *dst, uint64_t dst_offset,
                                  dio_buffer *src, uint64_t src_offset, uint64_t size)
{
    cpu_backend *be = ctx;
    dio_status st;
    (void)stream;
    if (!be) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cpu_check_range(be, dst, dst_offset, size, "copy destination")) != DIO_OK) return st;
    if ((st = cpu_check_range(be, src, src_offset, size, "copy source")) != DIO_OK) return st;
    if (dst->flags & DIO_HOST_BUFFER_READ_ONLY)
        return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "cpu backend: copy into a read-only buffer");
    if (size) memmove(dst->data + dst_offset, src->data + src_offset, (size_t)size);
    return DIO_OK;
}

static dio_status cpu_stream_create(void *ctx, int32_t device, dio_stream **out)
{
    cpu_backend *be = ctx;
    dio_stream *s;
    if (!be || !out) return DIO_ERR_INVALID_ARGUMENT;
    if (device != 0) return cpu_error(be, DIO_ERR_INVALID_ARGUMENT, "cpu backend: no device %d", device);
    s = calloc(1, sizeof(*s));
    if (!s) return cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "cpu backend: out of memory");
    s->device = device;
    *out = s;
    return DIO_OK;
}

static void cpu_stream_destroy(void *ctx, dio_stream *s)
{
    (void)ctx;
    free(s);
}

static dio_status cpu_stream_sync(void *ctx, dio_stream *s)
{
    (void)ctx;
    (void)s;
    return DIO_OK;
}

static dio_status cpu_supports_op(void *ctx, const dio_op_call *call)
{
    cpu_backend *be = ctx;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if (call->op < 0 || call->op >= DIO_OP_COUNT_1_0 || !cpu_op_entries[call->op].check)
        return cpu_error(be, DIO_ERR_NOT_SUPPORTED, "cpu backend: op %d is not implemented", call->op);
    return cpu_op_entries[call->op].check(be, call);
}

static const dio_backend_iface cpu_iface = {
    .abi_version = DIO_ABI_VERSION,
    .struct_size = sizeof(dio_backend_iface),
    .create = cpu_create,
    .destroy = cpu_destroy,
    .device_count = cpu_device_count,
    .device_props = cpu_device_props,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_from_host = cpu_buffer_from_host,
    .buffer_free = cpu_buffer_free,
    .buffer_size = cpu_buffer_size,
    .buffer_device = cpu_buffer_device,
    .buffer_host_ptr = cpu_buffer_host_ptr,
    .buffer_upload = cpu_buffer_upload,
    .buffer_download = cpu_buffer_download,
    .buffer_copy = cpu_buffer_copy,
    .stream_create = cpu_stream_create,
    .stream_destroy = cpu_stream_destroy,
    .stream_sync = cpu_stream_sync,
    .supports_op = cpu_supports_op,
    .op_count = DIO_OP_COUNT_1_0,
    .ops = cpu_op_table,
};

static const dio_plugin_descriptor cpu_descriptor = {
    .struct_size = sizeof(dio_plugin_descriptor),
    .kind = DIO_PLUGIN_BACKEND,
    .abi_min = DIO_ABI_MAKE(1, 0),
    .abi_max = DIO_ABI_VERSION,
    .name = "cpu",
    .version = DIO_VERSION_STRING,
    .license = "Apache-2.0",
    .description = "portable C11 kernels with OpenMP threads; oneDNN for matmul and convolution",
    .backend = &cpu_iface,
};

dio_status cpu_error(const cpu_backend *be, dio_status status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (be && be->host) return be->host->set_error(status, "%s", msg);
    if (g_host) return g_host->set_error(status, "%s", msg);
    return status;
}

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
    if (!host || !out || !host->services) return DIO_ERR_INVALID_ARGUMENT;
    g_host = host->services;
    for (int i = 0; i < DIO_OP_COUNT_1_0; i++) cpu_op_table[i] = cpu_op_entries[i].run;
    *out = &cpu_descriptor;
    return DIO_OK;
}
