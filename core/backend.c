/* libdiorama — opening a backend plugin by name at run time.
 *
 * The name comes from the caller (--backend), else DIORAMA_BACKEND, else "cpu", so the same graph and
 * weights run on whatever backend is chosen. An open backend holds a default stream for device 0 and
 * counts as a live object of its context, which keeps its plugin loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context_internal.h"

struct dio_backend {
    dio_context *ctx;
    const dio_backend_iface *iface;
    void *bctx;
    dio_stream *stream;
    char name[64];
};

dio_status dio_backend_open(dio_context *ctx, const char *name, const dio_kv *options, size_t n_options,
                            dio_backend **out)
{
    const dio_plugin_descriptor *d = NULL;
    dio_backend *b = NULL;
    dio_status st;
    if (!ctx || !out || (n_options && !options))
        return dio_set_error(DIO_ERR_INVALID_ARGUMENT, "dio_backend_open: NULL argument");
    if (!name || !name[0]) name = getenv("DIORAMA_BACKEND");
    if (!name || !name[0]) name = "cpu";
    if ((st = dio_context_find(ctx, DIO_PLUGIN_BACKEND, name, &d)) != DIO_OK) return st;
    b = calloc(1, sizeof(*b));
    if (!b) return dio_set_error(DIO_ERR_OUT_OF_HOST_MEMORY, "out of memory opening backend %s", name);
    b->ctx = ctx;
    b->iface = d->backend;
    snprintf(b->name, sizeof(b->name), "%s", name);
    dio_clear_error();
    st = b->iface->create(dio_host_services_get(), options, n_options, &b->bctx);
    if (st != DIO_OK) {
        if (!dio_last_error()[0])
            dio_set_error(st, "backend %s: create failed (%s)", name, dio_status_name(st));
        b->bctx = NULL;
        goto fail;
    }
    if (b->iface->device_count(b->bctx) < 1) {
        st = dio_set_error(DIO_ERR_NOT_SUPPORTED, "backend %s: no device available", name);
        goto fail;
    }
    if ((st = b->iface->stream_create(b->bctx, 0, &b->stream)) != DIO_OK) {
        b->stream = NULL;
        goto fail;
    }
    atomic_fetch_add(&ctx->live_objects, 1);
    *out = b;
    return DIO_OK;
fail:
    if (b->bctx) b->iface->destroy(b->bctx);
    free(b);
    return st;
}

void dio_backend_close(dio_backend *b)
{
    if (!b) return;
    if (b->stream) b->iface->stream_destroy(b->bctx, b->stream);
    b->iface->destroy(b->bctx);
    atomic_fetch_sub(&b->ctx->live_objects, 1);
    free(b);
}

const char *dio_backend_name(const dio_backend *b)
{
    return b ? b->name : NULL;
}

dio_backend_ref dio_backend_get_ref(const dio_backend *b, int32_t device)
{
    dio_backend_ref ref;
    memset(&ref, 0, sizeof(ref));
    ref.struct_size = sizeof(ref);
    if (!b) return ref;
    ref.device = device;
    ref.iface = b->iface;
    ref.ctx = b->bctx;
    return ref;
}

dio_stream *dio_backend_default_stream(const dio_backend *b)
{
    return b ? b->stream : NULL;
}
