/* The SIMT emulator's runtime (gpu_emu.h): devices, memory, streams, errors and the launch scheduler.
 *
 * The scheduler runs a block's threads as fibers on one fixed pool of stacks: each fiber runs
 * until it finishes or reaches __syncthreads, and when every live thread of the block waits at the barrier
 * all are released together (threads that returned count as arrived, as on sm_70+ and on AMD). A fiber
 * that is resumed by the scheduler always finds threadIdx set to its own coordinates. Launches hold one
 * process-wide lock, so function-local statics (__shared__) belong to one block at a time even when two
 * host threads launch at once. Under AddressSanitizer the switches are announced to it (start/finish
 * switch fiber), so its stack bookkeeping follows the fibers instead of reporting false positives.
 * On x86-64 a switch is six pushes, a stack swap and six pops (gpu_emu_switch below): glibc's swapcontext
 * saves the signal mask with a system call on every switch, which made a barrier-free kernel cost two
 * system calls per GPU thread. Elsewhere the fibers are ucontext ones.
 * Device memory is malloc'd and counted against DIORAMA_GPU_EMU_MEMORY_MB (default 4096). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <new>

#include "gpu_emu.h"

#if defined(__SANITIZE_ADDRESS__)
#define GPU_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GPU_EMU_ASAN 1
#endif
#endif
#ifdef GPU_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

thread_local gpu_emu_uint3 gpu_emu_thread_idx, gpu_emu_block_idx;
thread_local dim3 gpu_emu_block_dim, gpu_emu_grid_dim;

namespace
{

constexpr int kMaxThreads = 1024;
constexpr size_t kStackSize = 128 * 1024;
constexpr uint64_t kAllocHeader = 64; /* size and device in front of each allocation, alignment kept */

thread_local gpu_emu_error t_last_error = gpu_emu_success;
thread_local int t_device = 0;

pthread_mutex_t g_mem_lock = PTHREAD_MUTEX_INITIALIZER;
uint64_t g_allocated = 0;

gpu_emu_error set_error(gpu_emu_error e)
{
    if (e != gpu_emu_success) t_last_error = e;
    return e;
}

int device_count()
{
    const char *s = getenv("DIORAMA_GPU_EMU_DEVICES");
    const int n = s ? atoi(s) : 1;
    return n < 0 ? 0 : n > 8 ? 8 : n;
}

uint64_t capacity()
{
    const char *s = getenv("DIORAMA_GPU_EMU_MEMORY_MB");
    const long long mb = s ? atoll(s) : 4096;
    return (uint64_t)(mb > 0 ? mb : 4096) << 20;
}

/* ---- the scheduler ---- */

enum fiber_state { FIBER_READY, FIBER_AT_BARRIER, FIBER_DONE };

#if defined(__x86_64__)
#define GPU_EMU_ASM_SWITCH 1
#endif

#ifdef GPU_EMU_ASM_SWITCH
/* Saves the callee-saved registers on the current stack, stores its pointer in *save and resumes the
 * stack `next` (one made by the same routine, or by fiber_stack_init). */
extern "C" void gpu_emu_switch(void **save, void *next);
asm(".text\n"
    ".p2align 4\n"
    ".globl gpu_emu_switch\n"
    ".hidden gpu_emu_switch\n"
    ".type gpu_emu_switch,@function\n"
    "gpu_emu_switch:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size gpu_emu_switch, .-gpu_emu_switch\n");
#endif

struct fiber {
#ifdef GPU_EMU_ASM_SWITCH
    void *sp;
#else
    ucontext_t ctx;
#endif
    fiber_state state;
    char *stack;
    void *asan_fake_stack;
};

struct scheduler {
#ifdef GPU_EMU_ASM_SWITCH
    void *main_sp;
#else
    ucontext_t main;
#endif
    fiber fibers[kMaxThreads];
    int current;
    void (*fn)(void *);
    void *arg;
    const void *main_stack_bottom;
    size_t main_stack_size;
};

pthread_mutex_t g_launch_lock = PTHREAD_MUTEX_INITIALIZER;
scheduler *g_sched; /* guarded by g_launch_lock; stacks made on the first launch, kept for the process */

/* Not inlined: a switch returns twice (swapcontext, or our own), and no caller variable may live across it
 * in a register. */
__attribute__((noinline)) void switch_to_fiber(scheduler *s, fiber *f)
{
#ifdef GPU_EMU_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, f->stack, kStackSize);
#endif
#ifdef GPU_EMU_ASM_SWITCH
    gpu_emu_switch(&s->main_sp, f->sp);
#else
    swapcontext(&s->main, &f->ctx);
#endif
#ifdef GPU_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

/* From a fiber back to the scheduler; `finished`: the fiber will never be resumed. */
__attribute__((noinline)) void switch_to_main(scheduler *s, fiber *f, bool finished)
{
#ifdef GPU_EMU_ASAN
    __sanitizer_start_switch_fiber(finished ? NULL : &f->asan_fake_stack, s->main_stack_bottom,
                                   s->main_stack_size);
#endif
#ifdef GPU_EMU_ASM_SWITCH
    gpu_emu_switch(&f->sp, s->main_sp);
#else
    if (finished) setcontext(&s->main);
    swapcontext(&f->ctx, &s->main);
#endif
#ifdef GPU_EMU_ASAN
    __sanitizer_finish_switch_fiber(f->asan_fake_stack, &s->main_stack_bottom, &s->main_stack_size);
#endif
}

void fiber_entry()
{
    scheduler *s = g_sched;
#ifdef GPU_EMU_ASAN
    __sanitizer_finish_switch_fiber(NULL, &s->main_stack_bottom, &s->main_stack_size);
#endif
    s->fn(s->arg);
    fiber *f = &s->fibers[s->current];
    f->state = FIBER_DONE;
    switch_to_main(s, f, true);
    abort(); /* a finished fiber is never resumed */
}

bool scheduler_ready(int n_threads)
{
    if (!g_sched) {
        g_sched = new (std::nothrow) scheduler();
        if (!g_sched) return false;
    }
    for (int i = 0; i < n_threads; i++) {
        fiber *f = &g_sched->fibers[i];
        if (!f->stack && !(f->stack = static_cast<char *>(malloc(kStackSize)))) return false;
    }
    return true;
}

/* Not inlined, for the reason switch_to_fiber is not (getcontext returns twice too). */
__attribute__((noinline)) void prepare_fiber(fiber *f)
{
#ifdef GPU_EMU_ASM_SWITCH
    /* The stack as gpu_emu_switch leaves it: six saved registers, then the address its ret jumps to, so
     * that fiber_entry starts with the stack aligned as after a call (rsp = 8 mod 16). */
    uintptr_t top = ((uintptr_t)f->stack + kStackSize) & ~(uintptr_t)15;
    void **sp = (void **)(top - 8);
    *--sp = (void *)fiber_entry;
    for (int i = 0; i < 6; i++) *--sp = NULL;
    f->sp = sp;
#else
    getcontext(&f->ctx);
    f->ctx.uc_stack.ss_sp = f->stack;
    f->ctx.uc_stack.ss_size = kStackSize;
    f->ctx.uc_link = NULL;
    makecontext(&f->ctx, fiber_entry, 0);
#endif
    f->state = FIBER_READY;
}

void set_thread_idx(int t, dim3 block)
{
    gpu_emu_thread_idx.x = (unsigned)t % block.x;
    gpu_emu_thread_idx.y = ((unsigned)t / block.x) % block.y;
    gpu_emu_thread_idx.z = (unsigned)t / (block.x * block.y);
}

/* The order in which a phase resumes the block's threads (DIORAMA_GPU_EMU_ORDER): forward (default),
 * reverse, or shuffle (a fresh permutation each phase, seeded by DIORAMA_GPU_EMU_SEED). On a GPU the
 * threads between two barriers run in no defined order, so a kernel whose result changes with the order
 * reads shared memory another thread writes without a barrier between: the tests run each order. */
enum order_kind { ORDER_FORWARD, ORDER_REVERSE, ORDER_SHUFFLE };

order_kind schedule_order()
{
    const char *o = getenv("DIORAMA_GPU_EMU_ORDER");
    if (o && !strcmp(o, "reverse")) return ORDER_REVERSE;
    if (o && !strcmp(o, "shuffle")) return ORDER_SHUFFLE;
    return ORDER_FORWARD;
}

uint64_t g_shuffle_state; /* guarded by g_launch_lock */

void make_order(int *perm, int n, order_kind kind)
{
    for (int i = 0; i < n; i++) perm[i] = kind == ORDER_REVERSE ? n - 1 - i : i;
    if (kind != ORDER_SHUFFLE) return;
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates on xorshift64 */
        g_shuffle_state ^= g_shuffle_state << 13;
        g_shuffle_state ^= g_shuffle_state >> 7;
        g_shuffle_state ^= g_shuffle_state << 17;
        const int j = (int)(g_shuffle_state % (uint64_t)(i + 1)), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

/* Runs one block; false when some threads returned while others waited at a barrier (barrier divergence:
 * undefined in CUDA and HIP alike, so the emulator refuses it instead of guessing). */
bool run_block(scheduler *s, int n_threads, dim3 block, order_kind kind)
{
    static int perm[kMaxThreads]; /* guarded by g_launch_lock */
    bool diverged = false;
    for (int t = 0; t < n_threads; t++) prepare_fiber(&s->fibers[t]);
    for (;;) {
        int waiting = 0, done = 0;
        make_order(perm, n_threads, kind);
        for (int i = 0; i < n_threads; i++) {
            const int t = perm[i];
            fiber *f = &s->fibers[t];
            if (f->state != FIBER_READY) continue;
            s->current = t;
            set_thread_idx(t, block);
            switch_to_fiber(s, f);
        }
        for (int t = 0; t < n_threads; t++) {
            if (s->fibers[t].state == FIBER_AT_BARRIER) {
                s->fibers[t].state = FIBER_READY;
                waiting++;
            } else {
                done++;
            }
        }
        if (!waiting) return !diverged;
        diverged = diverged || done > 0;
    }
}

} // namespace

extern "C" void gpu_emu_syncthreads(void)
{
    scheduler *s = g_sched;
    fiber *f = &s->fibers[s->current];
    f->state = FIBER_AT_BARRIER;
    switch_to_main(s, f, false);
}

extern "C" void gpu_emu_launch_body(dim3 grid, dim3 block, gpu_emu_stream_t stream, void (*fn)(void *),
                                    void *arg)
{
    const uint64_t n_threads = (uint64_t)block.x * block.y * block.z;
    (void)stream;
    /* CUDA's limits: 1024 threads a block (z at most 64), grid y and z at most 65535. */
    if (n_threads == 0 || n_threads > kMaxThreads || block.z > 64 || grid.x == 0 || grid.y == 0 ||
        grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
        set_error(gpu_emu_error_invalid_configuration);
        return;
    }
    pthread_mutex_lock(&g_launch_lock);
    if (!scheduler_ready((int)n_threads)) {
        pthread_mutex_unlock(&g_launch_lock);
        set_error(gpu_emu_error_memory_allocation);
        return;
    }
    g_sched->fn = fn;
    g_sched->arg = arg;
    gpu_emu_grid_dim = grid;
    gpu_emu_block_dim = block;
    const order_kind kind = schedule_order();
    if (kind == ORDER_SHUFFLE && !g_shuffle_state) {
        const char *seed = getenv("DIORAMA_GPU_EMU_SEED");
        g_shuffle_state = seed ? strtoull(seed, NULL, 0) : 0;
        if (!g_shuffle_state) g_shuffle_state = 0x9e3779b97f4a7c15ull;
    }
    bool diverged = false;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                gpu_emu_block_idx.x = x;
                gpu_emu_block_idx.y = y;
                gpu_emu_block_idx.z = z;
                if (!run_block(g_sched, (int)n_threads, block, kind) && !diverged) {
                    diverged = true;
                    fprintf(stderr,
                            "gpuemu: block (%u, %u, %u) of %u threads: some returned while others waited at "
                            "__syncthreads (barrier divergence)\n",
                            x, y, z, (unsigned)n_threads);
                }
            }
    pthread_mutex_unlock(&g_launch_lock);
    if (diverged) set_error(gpu_emu_error_launch_failure);
}

/* ---- devices, memory, streams ---- */

struct gpu_emu_stream {
    int device;
};

extern "C" gpu_emu_error gpu_emu_get_device_count(int *count)
{
    if (!count) return set_error(gpu_emu_error_invalid_value);
    *count = device_count();
    return gpu_emu_success;
}

extern "C" gpu_emu_error gpu_emu_get_device_properties(struct gpu_emu_device_prop *prop, int device)
{
    if (!prop) return set_error(gpu_emu_error_invalid_value);
    if (device < 0 || device >= device_count()) return set_error(gpu_emu_error_invalid_device);
    memset(prop, 0, sizeof(*prop));
    snprintf(prop->name, sizeof(prop->name), "SIMT emulator %d", device);
    prop->major = 9; /* claims f16, bf16 and f8 like Hopper, so every dtype path of the host code is taken */
    prop->minor = 0;
    prop->totalGlobalMem = (size_t)capacity();
    prop->multiProcessorCount = 1;
    return gpu_emu_success;
}

extern "C" gpu_emu_error gpu_emu_set_device(int device)
{
    if (device < 0 || device >= device_count()) return set_error(gpu_emu_error_invalid_device);
    t_device = device;
    return gpu_emu_success;
}

/* Device-allocation fault injection (tests/gpu_emu/device_oom_sweep.sh): DIORAMA_GPU_EMU_FAIL_ALLOC=N
 * fails the Nth cudaMalloc of the process; DIORAMA_GPU_EMU_REPORT=FILE writes how many there were at exit. */
static uint64_t g_n_allocs; /* guarded by g_mem_lock */

__attribute__((destructor)) static void report_allocs()
{
    const char *path = getenv("DIORAMA_GPU_EMU_REPORT");
    FILE *f = path && *path ? fopen(path, "w") : NULL;
    if (!f) return;
    fprintf(f, "%llu\n", (unsigned long long)g_n_allocs);
    fclose(f);
}

extern "C" gpu_emu_error gpu_emu_malloc(void **ptr, size_t size)
{
    void *p = NULL;
    const char *fail_at = getenv("DIORAMA_GPU_EMU_FAIL_ALLOC");
    if (!ptr) return set_error(gpu_emu_error_invalid_value);
    *ptr = NULL;
    pthread_mutex_lock(&g_mem_lock);
    const uint64_t nth = ++g_n_allocs;
    const bool injected = fail_at && strtoull(fail_at, NULL, 10) == nth;
    const bool fits = !injected && size <= capacity() - g_allocated && g_allocated <= capacity();
    if (fits) g_allocated += size;
    pthread_mutex_unlock(&g_mem_lock);
    if (!fits || posix_memalign(&p, 256, kAllocHeader + size) != 0) {
        if (fits) {
            pthread_mutex_lock(&g_mem_lock);
            g_allocated -= size;
            pthread_mutex_unlock(&g_mem_lock);
        }
        return set_error(gpu_emu_error_memory_allocation);
    }
    memcpy(p, &size, sizeof size);
    memset((char *)p + kAllocHeader, 0xff, size); /* NaN everywhere: reading unwritten memory shows */
    *ptr = (char *)p + kAllocHeader;
    return gpu_emu_success;
}

extern "C" gpu_emu_error gpu_emu_free(void *ptr)
{
    size_t size;
    if (!ptr) return gpu_emu_success;
    char *p = (char *)ptr - kAllocHeader;
    memcpy(&size, p, sizeof size);
    pthread_mutex_lock(&g_mem_lock);
    g_allocated -= size;
    pthread_mutex_unlock(&g_mem_lock);
    free(p);
    return gpu_emu_success;
}

extern "C" gpu_emu_error gpu_emu_mem_get_info(size_t *free_bytes, size_t *total_bytes)
{
    if (!free_bytes || !total_bytes) return set_error(gpu_emu_error_invalid_value);
    pthread_mutex_lock(&g_mem_lock);
    *total_bytes = (size_t)capacity();
    *free_bytes = (size_t)(capacity() - g_allocated);
    pthread_mutex_unlock(&g_mem_lock);
    return gpu_emu_success;
}

extern "C" gpu_emu_error gpu_emu_memcpy_async(void *dst, const void *src, size_t n, gpu_emu_copy_kind kind,
                                              gpu_emu_stream_t s)
{
    (void)kind;
    (void)s;
    if (n && (!dst || !src)) return set_error(gpu_emu_error_invalid_value);
    if (n) memmove(dst, src, n);
    return gpu_emu_success;
}

extern "C" gpu_emu_error gpu_emu_memcpy_peer_async(void *dst, int dst_device, const void *src, int src_device,
                                                   size_t n, gpu_emu_stream_t s)
{
    if (dst_device < 0 || dst_device >= device_count() || src_device < 0 || src_device >= device_count())
        return set_error(gpu_emu_error_invalid_device);
    return gpu_emu_memcpy_async(dst, src, n, gpu_emu_device_to_device, s);
}

extern "C" gpu_emu_error gpu_emu_stream_create_with_flags(gpu_emu_stream_t *s, unsigned flags)
{
    (void)flags;
    if (!s) return set_error(gpu_emu_error_invalid_value);
    *s = new (std::nothrow) gpu_emu_stream();
    if (!*s) return set_error(gpu_emu_error_memory_allocation);
    (*s)->device = t_device;
    return gpu_emu_success;
}

extern "C" gpu_emu_error gpu_emu_stream_destroy(gpu_emu_stream_t s)
{
    if (!s) return set_error(gpu_emu_error_invalid_handle);
    delete s;
    return gpu_emu_success;
}

extern "C" gpu_emu_error gpu_emu_stream_synchronize(gpu_emu_stream_t s)
{
    (void)s; /* everything ran when it was queued */
    return gpu_emu_success;
}

extern "C" gpu_emu_error gpu_emu_get_last_error(void)
{
    const gpu_emu_error e = t_last_error;
    t_last_error = gpu_emu_success;
    return e;
}

extern "C" const char *gpu_emu_get_error_name(gpu_emu_error e)
{
    switch (e) {
    case gpu_emu_success: return "gpuemuSuccess";
    case gpu_emu_error_invalid_value: return "gpuemuErrorInvalidValue";
    case gpu_emu_error_memory_allocation: return "gpuemuErrorMemoryAllocation";
    case gpu_emu_error_invalid_configuration: return "gpuemuErrorInvalidConfiguration";
    case gpu_emu_error_invalid_device: return "gpuemuErrorInvalidDevice";
    case gpu_emu_error_invalid_handle: return "gpuemuErrorInvalidResourceHandle";
    case gpu_emu_error_launch_failure: return "gpuemuErrorLaunchFailure";
    default: return "gpuemuErrorUnknown";
    }
}

extern "C" const char *gpu_emu_get_error_string(gpu_emu_error e)
{
    switch (e) {
    case gpu_emu_success: return "no error";
    case gpu_emu_error_invalid_value: return "invalid argument";
    case gpu_emu_error_memory_allocation: return "out of memory";
    case gpu_emu_error_invalid_configuration: return "invalid configuration argument";
    case gpu_emu_error_invalid_device: return "invalid device ordinal";
    case gpu_emu_error_invalid_handle: return "invalid resource handle";
    case gpu_emu_error_launch_failure: return "unspecified launch failure (barrier divergence)";
    default: return "unknown error";
    }
}
