/* CUDA backend — the plugin entry, the backend table, devices, buffers, streams and op dispatch.
 *
 * create() counts the devices with cudaGetDeviceCount and refuses cleanly (NOT_SUPPORTED, "cuda: no
 * device (...)") when there is none or no driver, so the plugin always loads and never crashes on a
 * machine without a GPU. With devices, the context holds one non-blocking stream and one cuBLASLt
 * handle per device. Buffers are cudaMalloc memory; transfers are cudaMemcpyAsync on the given stream,
 * or on the device's own stream followed by a synchronize when the stream is NULL. Device memory is
 * not host-visible: buffer_host_ptr is NULL and buffer_from_host is NOT_SUPPORTED (place_host uploads).
 * The same file, built with DIO_GPU_HIP, is the HIP backend's (plugins/hip): the names are CUDA's and
 * gpu_vendor.h maps them; the messages and the registry name come from GPU_NAME / GPU_RT. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"
#include "diorama/plugin.h"

#define CUDA_ALIGNMENT 256

static const dio_host_services *g_host; /* set by the entry; immutable afterwards */

typedef struct cuda_op_entry {
    dio_op_fn run;
    dio_status (*check)(const cuda_backend *be, const dio_op_call *call, int32_t device);
} cuda_op_entry;

#define CUDA_OP(id, name) [id] = {cuda_op_##name, cuda_check_##name}
static const cuda_op_entry cuda_op_entries[DIO_OP_COUNT_1_0] = {
    CUDA_OP(DIO_OP_MATMUL, matmul),
    CUDA_OP(DIO_OP_ATTENTION, attention),
    CUDA_OP(DIO_OP_LAYERNORM, layernorm),
    CUDA_OP(DIO_OP_RMSNORM, rmsnorm),
    CUDA_OP(DIO_OP_ADALN_MODULATE, adaln_modulate),
    CUDA_OP(DIO_OP_GATED_RESIDUAL, gated_residual),
    CUDA_OP(DIO_OP_ROPE, rope),
    CUDA_OP(DIO_OP_GELU, gelu),
    CUDA_OP(DIO_OP_SILU, silu),
    CUDA_OP(DIO_OP_SWIGLU, swiglu),
    CUDA_OP(DIO_OP_CONV3D, conv3d),
    CUDA_OP(DIO_OP_CONV2D, conv2d),
    CUDA_OP(DIO_OP_CHANNEL_RMSNORM, channel_rmsnorm),
    CUDA_OP(DIO_OP_UPSAMPLE_NEAREST, upsample_nearest),
    CUDA_OP(DIO_OP_SOFTMAX, softmax),
    CUDA_OP(DIO_OP_ADD, add),
    CUDA_OP(DIO_OP_MUL, mul),
    CUDA_OP(DIO_OP_AXPBY, axpby),
    CUDA_OP(DIO_OP_CLAMP, clamp),
    CUDA_OP(DIO_OP_GATHER, gather),
    CUDA_OP(DIO_OP_COPY, copy),
    CUDA_OP(DIO_OP_CONCAT, concat),
    CUDA_OP(DIO_OP_SLICE, slice),
    CUDA_OP(DIO_OP_PERMUTE, permute),
    CUDA_OP(DIO_OP_PATCHIFY, patchify),
    CUDA_OP(DIO_OP_UNPATCHIFY, unpatchify),
};
#undef CUDA_OP

static dio_op_fn cuda_op_table[DIO_OP_COUNT_1_0];

dio_status cuda_error(const cuda_backend *be, dio_status status, const char *fmt, ...)
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

dio_status cuda_rt_error(const cuda_backend *be, cudaError_t err, const char *what)
{
    dio_status st = err == cudaErrorMemoryAllocation ? DIO_ERR_OUT_OF_DEVICE_MEMORY : DIO_ERR_BACKEND_FAILURE;
    (void)cudaGetLastError(); /* clear a non-sticky error so the next call starts clean */
    return cuda_error(be, st, GPU_NAME ": %s: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
}

static void cuda_destroy(void *ctx)
{
    cuda_backend *be = ctx;
    if (!be) return;
    for (int i = 0; be->dev && i < be->n_devices; i++) {
        cuda_device *d = &be->dev[i];
        if (cudaSetDevice(d->ordinal) != cudaSuccess) continue;
        cuda_blas_destroy(d);
        if (d->stream) cudaStreamDestroy(d->stream);
    }
    free(be->dev);
    free(be);
}

static dio_status cuda_create(const dio_host_services *host, const dio_kv *options, size_t n_options,
                              void **out_ctx)
{
    cuda_backend *be = NULL;
    cudaError_t err;
    int count = 0;
    dio_status st;
    if (!host || !out_ctx) return DIO_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n_options; i++)
        if (options && options[i].key)
            host->log(DIO_LOG_DEBUG, GPU_NAME, "ignoring unknown option %s", options[i].key);
    err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count < 1) {
        (void)cudaGetLastError();
        return host->set_error(DIO_ERR_NOT_SUPPORTED, GPU_NAME ": no device (" GPU_RT "GetDeviceCount: %s)",
                               err != cudaSuccess ? cudaGetErrorString(err) : "0 devices");
    }
    be = calloc(1, sizeof(*be));
    if (!be) return host->set_error(DIO_ERR_OUT_OF_HOST_MEMORY, GPU_NAME " backend: out of memory");
    be->host = host;
    be->dev = calloc((size_t)count, sizeof(*be->dev));
    if (!be->dev) {
        st = cuda_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, GPU_NAME " backend: out of memory");
        goto fail;
    }
    be->n_devices = count;
    for (int i = 0; i < count; i++) {
        cuda_device *d = &be->dev[i];
        d->ordinal = i;
        if ((err = cudaSetDevice(i)) != cudaSuccess) {
            st = cuda_rt_error(be, err, GPU_RT "SetDevice");
            goto fail;
        }
        if ((err = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking)) != cudaSuccess) {
            d->stream = NULL;
            st = cuda_rt_error(be, err, GPU_RT "StreamCreateWithFlags");
            goto fail;
        }
        if ((st = cuda_blas_create(be, d)) != DIO_OK) goto fail;
    }
    *out_ctx = be;
    return DIO_OK;
fail:
    cuda_destroy(be);
    return st;
}

static int32_t cuda_device_count(void *ctx)
{
    cuda_backend *be = ctx;
    return be ? be->n_devices : 0;
}

static dio_status cuda_check_device(const cuda_backend *be, int32_t device)
{
    if (device < 0 || device >= be->n_devices)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, GPU_NAME " backend: no device %d (%d present)",
                          device, be->n_devices);
    return DIO_OK;
}

static dio_status cuda_device_props(void *ctx, int32_t device, dio_device_props *out)
{
    cuda_backend *be = ctx;
    struct cudaDeviceProp prop;
    dio_device_props p;
    size_t free_b = 0, total_b = 0;
    cudaError_t err;
    dio_status st;
    if (!be || !out) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cuda_check_device(be, device)) != DIO_OK) return st;
    if ((err = cudaGetDeviceProperties(&prop, device)) != cudaSuccess)
        return cuda_rt_error(be, err, GPU_RT "GetDeviceProperties");
    memset(&p, 0, sizeof(p));
    p.struct_size = (uint32_t)sizeof(p);
    p.type = DIO_DEVICE_GPU;
    snprintf(p.name, sizeof(p.name), "%.100s (sm_%d%d)", prop.name, prop.major, prop.minor);
    p.total_memory = (uint64_t)prop.totalGlobalMem;
    if (cudaSetDevice(device) == cudaSuccess && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
        p.free_memory = (uint64_t)free_b;
    (void)cudaGetLastError();
    p.compute_units = prop.multiProcessorCount;
    p.caps = 0;
    if (prop.major * 10 + prop.minor >= 53) p.caps |= DIO_CAP_F16;
    if (prop.major >= 8) p.caps |= DIO_CAP_BF16;
    if (prop.major * 10 + prop.minor >= 89) p.caps |= DIO_CAP_FP8;
    p.alignment = CUDA_ALIGNMENT;
    {
        uint32_t n =
            out->struct_size && out->struct_size < sizeof(p) ? out->struct_size : (uint32_t)sizeof(p);
        memcpy(out, &p, n);
        out->struct_size = n;
    }
    return DIO_OK;
}

static dio_status cuda_buffer_alloc(void *ctx, int32_t device, uint64_t size, dio_buffer **out)
{
    cuda_backend *be = ctx;
    dio_buffer *b = NULL;
    cudaError_t err;
    dio_status st;
    if (!be || !out) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cuda_check_device(be, device)) != DIO_OK) return st;
    b = calloc(1, sizeof(*b));
    if (!b) return cuda_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, GPU_NAME " backend: out of memory");
    if ((err = cudaSetDevice(device)) != cudaSuccess) {
        st = cuda_rt_error(be, err, GPU_RT "SetDevice");
        goto fail;
    }
    if ((err = cudaMalloc(&b->ptr, size ? (size_t)size : 1)) != cudaSuccess) {
        b->ptr = NULL;
        st = cuda_rt_error(be, err, GPU_RT "Malloc");
        if (st == DIO_ERR_OUT_OF_DEVICE_MEMORY)
            st = cuda_error(be, st, GPU_NAME " backend: cannot allocate %llu bytes on device %d",
                            (unsigned long long)size, device);
        goto fail;
    }
    b->size = size;
    b->device = device;
    *out = b;
    return DIO_OK;
fail:
    free(b);
    return st;
}

static dio_status cuda_buffer_from_host(void *ctx, int32_t device, void *host_ptr, uint64_t size,
                                        uint32_t flags, dio_buffer **out)
{
    (void)device;
    (void)host_ptr;
    (void)size;
    (void)flags;
    (void)out;
    return cuda_error(
        ctx, DIO_ERR_NOT_SUPPORTED,
        GPU_NAME " backend: buffer_from_host: device memory cannot wrap host memory; allocate and upload");
}

static void cuda_buffer_free(void *ctx, dio_buffer *b)
{
    (void)ctx;
    if (!b) return;
    if (b->ptr && cudaSetDevice(b->device) == cudaSuccess) cudaFree(b->ptr);
    (void)cudaGetLastError();
    free(b);
}

static uint64_t cuda_buffer_size(void *ctx, const dio_buffer *b)
{
    (void)ctx;
    return b ? b->size : 0;
}

static int32_t cuda_buffer_device(void *ctx, const dio_buffer *b)
{
    (void)ctx;
    return b ? b->device : -1;
}

static void *cuda_buffer_host_ptr(void *ctx, dio_buffer *b)
{
    (void)ctx;
    (void)b;
    return NULL;
}

static dio_status cuda_check_range(const cuda_backend *be, const dio_buffer *b, uint64_t off, uint64_t size,
                                   const char *what)
{
    if (!b) return cuda_error(be, DIO_ERR_INVALID_ARGUMENT, GPU_NAME " backend: %s: NULL buffer", what);
    if (off > b->size || size > b->size - off)
        return cuda_error(
            be, DIO_ERR_INVALID_ARGUMENT,
            GPU_NAME " backend: %s of %llu bytes at offset %llu overruns a buffer of %llu bytes", what,
            (unsigned long long)size, (unsigned long long)off, (unsigned long long)b->size);
    return DIO_OK;
}

/* The stream a transfer runs on and whether it must be waited for (stream NULL: synchronous). */
static dio_status cuda_transfer_stream(const cuda_backend *be, dio_stream *stream, int32_t device,
                                       cudaStream_t *s, const char *what)
{
    cudaError_t err;
    if (stream && stream->device != device)
        return cuda_error(be, DIO_ERR_INVALID_ARGUMENT,
                          GPU_NAME " backend: %s: the buffer is on device %d, the stream on device %d", what,
                          device, stream->device);
    if ((err = cudaSetDevice(device)) != cudaSuccess) return cuda_rt_error(be, err, GPU_RT "SetDevice");
    *s = stream ? stream->s : be->dev[device].stream;
    return DIO_OK;
}

static dio_status cuda_finish_transfer(const cuda_backend *be, dio_stream *stream, cudaStream_t s,
                                       cudaError_t err, const char *what)
{
    if (err != cudaSuccess) return cuda_rt_error(be, err, what);
    if (!stream && (err = cudaStreamSynchronize(s)) != cudaSuccess)
        return cuda_rt_error(be, err, GPU_RT "StreamSynchronize");
    return DIO_OK;
}

static dio_status cuda_buffer_upload(void *ctx, dio_stream *stream, dio_buffer *dst, uint64_t dst_offset,
                                     const void *src, uint64_t size)
{
    cuda_backend *be = ctx;
    cudaStream_t s = NULL;
    dio_status st;
    if (!be || (!src && size)) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cuda_check_range(be, dst, dst_offset, size, "upload")) != DIO_OK) return st;
    if (!size) return DIO_OK;
    if ((st = cuda_transfer_stream(be, stream, dst->device, &s, "upload")) != DIO_OK) return st;
    return cuda_finish_transfer(
        be, stream, s,
        cudaMemcpyAsync((char *)dst->ptr + dst_offset, src, (size_t)size, cudaMemcpyHostToDevice, s),
        GPU_RT "MemcpyAsync (upload)");
}

static dio_status cuda_buffer_download(void *ctx, dio_stream *stream, dio_buffer *src, uint64_t src_offset,
                                       void *dst, uint64_t size)
{
    cuda_backend *be = ctx;
    cudaStream_t s = NULL;
    dio_status st;
    if (!be || (!dst && size)) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cuda_check_range(be, src, src_offset, size, "download")) != DIO_OK) return st;
    if (!size) return DIO_OK;
    if ((st = cuda_transfer_stream(be, stream, src->device, &s, "download")) != DIO_OK) return st;
    return cuda_finish_transfer(
        be, stream, s,
        cudaMemcpyAsync(dst, (const char *)src->ptr + src_offset, (size_t)size, cudaMemcpyDeviceToHost, s),
        GPU_RT "MemcpyAsync (download)");
}

static dio_status cuda_buffer_copy(void *ctx, dio_stream *stream, dio_buffer *dst, uint64_t dst_offset,
                                   dio_buffer *src, uint64_t src_offset, uint64_t size)
{
    cuda_backend *be = ctx;
    cudaStream_t s = NULL;
    cudaError_t err;
    dio_status st;
    if (!be) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cuda_check_range(be, dst, dst_offset, size, "copy destination")) != DIO_OK) return st;
    if ((st = cuda_check_range(be, src, src_offset, size, "copy source")) != DIO_OK) return st;
    if (!size) return DIO_OK;
    if ((st = cuda_transfer_stream(be, stream, dst->device, &s, "copy")) != DIO_OK) return st;
    if (src->device == dst->device)
        err = cudaMemcpyAsync((char *)dst->ptr + dst_offset, (const char *)src->ptr + src_offset,
                              (size_t)size, cudaMemcpyDeviceToDevice, s);
    else
        err = cudaMemcpyPeerAsync((char *)dst->ptr + dst_offset, dst->device,
                                  (const char *)src->ptr + src_offset, src->device, (size_t)size, s);
    return cuda_finish_transfer(be, stream, s, err, GPU_RT "MemcpyAsync (copy)");
}

static dio_status cuda_stream_create(void *ctx, int32_t device, dio_stream **out)
{
    cuda_backend *be = ctx;
    dio_stream *s = NULL;
    cudaError_t err;
    dio_status st;
    if (!be || !out) return DIO_ERR_INVALID_ARGUMENT;
    if ((st = cuda_check_device(be, device)) != DIO_OK) return st;
    s = calloc(1, sizeof(*s));
    if (!s) return cuda_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, GPU_NAME " backend: out of memory");
    s->device = device;
    if ((err = cudaSetDevice(device)) != cudaSuccess) {
        st = cuda_rt_error(be, err, GPU_RT "SetDevice");
        goto fail;
    }
    if ((err = cudaStreamCreateWithFlags(&s->s, cudaStreamNonBlocking)) != cudaSuccess) {
        st = cuda_rt_error(be, err, GPU_RT "StreamCreateWithFlags");
        goto fail;
    }
    *out = s;
    return DIO_OK;
fail:
    free(s);
    return st;
}

static void cuda_stream_destroy(void *ctx, dio_stream *s)
{
    (void)ctx;
    if (!s) return;
    if (cudaSetDevice(s->device) == cudaSuccess) {
        cudaStreamSynchronize(s->s);
        cuda_stream_release_workspace(s);
        cudaStreamDestroy(s->s);
    }
    (void)cudaGetLastError();
    free(s);
}

static dio_status cuda_stream_sync(void *ctx, dio_stream *s)
{
    cuda_backend *be = ctx;
    cudaError_t err;
    if (!be || !s) return DIO_ERR_INVALID_ARGUMENT;
    if ((err = cudaSetDevice(s->device)) != cudaSuccess) return cuda_rt_error(be, err, GPU_RT "SetDevice");
    if ((err = cudaStreamSynchronize(s->s)) != cudaSuccess)
        return cuda_rt_error(be, err, GPU_RT "StreamSynchronize");
    return DIO_OK;
}

static dio_status cuda_supports_op(void *ctx, const dio_op_call *call)
{
    cuda_backend *be = ctx;
    if (!be || !call) return DIO_ERR_INVALID_ARGUMENT;
    if (call->op < 0 || call->op >= DIO_OP_COUNT_1_0 || !cuda_op_entries[call->op].check)
        return cuda_error(be, DIO_ERR_NOT_SUPPORTED, GPU_NAME " backend: op %s is not implemented yet",
                          dio_op_name(call->op));
    /* supports_op has no stream; the answer is for device 0, the device of the default stream. */
    return cuda_op_entries[call->op].check(be, call, 0);
}

static const dio_backend_iface cuda_iface = {
    .abi_version = DIO_ABI_VERSION,
    .struct_size = sizeof(dio_backend_iface),
    .create = cuda_create,
    .destroy = cuda_destroy,
    .device_count = cuda_device_count,
    .device_props = cuda_device_props,
    .buffer_alloc = cuda_buffer_alloc,
    .buffer_from_host = cuda_buffer_from_host,
    .buffer_free = cuda_buffer_free,
    .buffer_size = cuda_buffer_size,
    .buffer_device = cuda_buffer_device,
    .buffer_host_ptr = cuda_buffer_host_ptr,
    .buffer_upload = cuda_buffer_upload,
    .buffer_download = cuda_buffer_download,
    .buffer_copy = cuda_buffer_copy,
    .stream_create = cuda_stream_create,
    .stream_destroy = cuda_stream_destroy,
    .stream_sync = cuda_stream_sync,
    .supports_op = cuda_supports_op,
    .op_count = DIO_OP_COUNT_1_0,
    .ops = cuda_op_table,
};

static const dio_plugin_descriptor cuda_descriptor = {
    .struct_size = sizeof(dio_plugin_descriptor),
    .kind = DIO_PLUGIN_BACKEND,
    .abi_min = DIO_ABI_MAKE(1, 0),
    .abi_max = DIO_ABI_VERSION,
    .name = GPU_NAME,
    .version = DIO_VERSION_STRING,
    .license = "Apache-2.0",
    .description = GPU_VENDOR_DESCRIPTION,
    .backend = &cuda_iface,
};

DIO_PLUGIN_EXPORT dio_status dio_plugin_entry(const dio_host_info *host, const dio_plugin_descriptor **out)
{
    if (!host || !out || !host->services) return DIO_ERR_INVALID_ARGUMENT;
    g_host = host->services;
    for (int i = 0; i < DIO_OP_COUNT_1_0; i++) cuda_op_table[i] = cuda_op_entries[i].run;
    *out = &cuda_descriptor;
    return DIO_OK;
}
