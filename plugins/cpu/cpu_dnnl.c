/* CPU backend — the oneDNN engine and stream a backend context shares between its oneDNN-backed ops.
 *
 * Created on first use, not in create(), so a context that never runs a convolution never touches
 * oneDNN. Initialisation is double-checked: an acquire load of be->dnnl on the fast path, and a process
 * mutex around creation so two threads racing on a fresh context create one engine. No primitive cache
 * of our own: oneDNN keeps a process-wide primitive cache (1024 entries by default, keyed on the full
 * descriptor) that already makes re-creating a primitive of a seen shape cheap, and matmul runs through
 * dnnl_sgemm, which has no primitive to create at all.
 *
 * The stream is shared by every thread using the context. That is safe for this engine: with the OpenMP
 * CPU runtime an in-order CPU stream holds no per-execution state (execution is a direct call on the
 * calling thread and wait() is a no-op), and the ABI already requires each dio_stream to be used by one
 * thread at a time. */
#include <pthread.h>
#include <stdlib.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "cpu_internal.h"

typedef struct cpu_dnnl_state {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
} cpu_dnnl_state;

static pthread_mutex_t cpu_dnnl_lock = PTHREAD_MUTEX_INITIALIZER;

dio_status cpu_dnnl_get(cpu_backend *be, void **engine, void **stream)
{
    cpu_dnnl_state *st = __atomic_load_n(&be->dnnl, __ATOMIC_ACQUIRE);
    dio_status status = DIO_OK;
    dnnl_status_t ds = dnnl_success;
    if (!st) {
        pthread_mutex_lock(&cpu_dnnl_lock);
        st = be->dnnl;
        if (!st) {
            st = calloc(1, sizeof(*st));
            if (!st) {
                status =
                    cpu_error(be, DIO_ERR_OUT_OF_HOST_MEMORY, "cpu backend: out of memory for oneDNN state");
                goto fail;
            }
            ds = dnnl_engine_create(&st->engine, dnnl_cpu, 0);
            if (ds != dnnl_success) {
                status = cpu_error(be, DIO_ERR_BACKEND_FAILURE,
                                   "cpu backend: oneDNN engine creation failed: %s", dnnl_status2str(ds));
                goto fail;
            }
            ds = dnnl_stream_create(&st->stream, st->engine, dnnl_stream_default_flags);
            if (ds != dnnl_success) {
                status = cpu_error(be, DIO_ERR_BACKEND_FAILURE,
                                   "cpu backend: oneDNN stream creation failed: %s", dnnl_status2str(ds));
                goto fail;
            }
            __atomic_store_n(&be->dnnl, (void *)st, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&cpu_dnnl_lock);
    }
    if (engine) *engine = st->engine;
    if (stream) *stream = st->stream;
    return DIO_OK;
fail:
    if (st) {
        if (st->stream) dnnl_stream_destroy(st->stream);
        if (st->engine) dnnl_engine_destroy(st->engine);
        free(st);
    }
    pthread_mutex_unlock(&cpu_dnnl_lock);
    return status;
}

void cpu_dnnl_release(cpu_backend *be)
{
    cpu_dnnl_state *st;
    if (!be) return;
    st = be->dnnl;
    if (!st) return;
    if (st->stream) dnnl_stream_destroy(st->stream);
    if (st->engine) dnnl_engine_destroy(st->engine);
    free(st);
    be->dnnl = NULL;
}
