/* libdio_fault — test-only fault injection (built only with -DDIO_FAULT_INJECTION=ON, the default of
 * -DDIO_SANITIZE=ON): makes the Nth allocation or the Nth output-file operation of a process fail.
 *
 * Design: libdiorama, every in-tree plugin, the CLI and the tests are linked with
 * -Wl,--wrap=malloc,... (top-level CMakeLists.txt), so each call they make to one of the functions below
 * lands in its __wrap_ twin here; __real_X is the ordinary symbol X, i.e. AddressSanitizer's allocator
 * in a sanitizer build, so ASan and LeakSanitizer keep seeing every block. Link-time wrapping was chosen
 * over an LD_PRELOAD interposer because it counts only calls made by OUR code (not FFmpeg's, glib's or
 * libgomp's internals, whose OOM handling is theirs), cannot fight ASan's own interposition of malloc,
 * and needs no source change at any call site. This library is the one place the counters live: every
 * module links it (plugins too — it is a test-only library, not libdiorama), so "the Nth call" is
 * counted across the whole process.
 *
 *   DIO_FAULT_ALLOC=N   the Nth call (1-based) of malloc, calloc, realloc, strdup, strndup,
 *                       aligned_alloc, posix_memalign returns NULL / ENOMEM (only that one call)
 *   DIO_FAULT_WRITE=N   the Nth output operation fails: write, fwrite, fflush, fsync, rename, mkstemp,
 *                       mkdtemp, mkdir, fopen for writing (errno ENOSPC; EIO for fsync)
 *   DIO_FAULT_REPORT=F  at exit, write "alloc A\nwrite W\nalloc_at_first_write K\nfired alloc|write|none\n"
 *                       to F (the counts tell a sweep its range; K, the allocations made before the
 *                       first output operation, where the writer's own allocations begin)
 *   DIO_FAULT_TRACE=1   print the stack of the call that was made to fail (ASan's symbolizer when
 *                       present) to stderr
 * With none set, every wrapper is a counter increment and a tail call. Counters are atomic: calls made
 * by several threads are all counted, though their order then depends on scheduling (the sweep runs
 * with one thread so that N names the same call on every run). fwrite and fflush on stdout/stderr are
 * not counted or failed: they are the CLI's messages, not outputs. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* The wrappers and the real functions they forward to (resolved by the linker's --wrap). */
#define DIO_FAULT_API __attribute__((visibility("default")))
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
ssize_t __real_write(int fd, const void *b, size_t n);
size_t __real_fwrite(const void *b, size_t s, size_t n, FILE *f);
int __real_fflush(FILE *f);
int __real_fsync(int fd);
int __real_rename(const char *a, const char *b);
int __real_mkstemp(char *t);
char *__real_mkdtemp(char *t);
int __real_mkdir(const char *p, mode_t m);
FILE *__real_fopen(const char *p, const char *m);
DIO_FAULT_API void *__wrap_malloc(size_t n);
DIO_FAULT_API void *__wrap_calloc(size_t n, size_t m);
DIO_FAULT_API void *__wrap_realloc(void *p, size_t n);
DIO_FAULT_API char *__wrap_strdup(const char *s);
DIO_FAULT_API char *__wrap_strndup(const char *s, size_t n);
DIO_FAULT_API void *__wrap_aligned_alloc(size_t a, size_t n);
DIO_FAULT_API int __wrap_posix_memalign(void **p, size_t a, size_t n);
DIO_FAULT_API ssize_t __wrap_write(int fd, const void *b, size_t n);
DIO_FAULT_API size_t __wrap_fwrite(const void *b, size_t s, size_t n, FILE *f);
DIO_FAULT_API int __wrap_fflush(FILE *f);
DIO_FAULT_API int __wrap_fsync(int fd);
DIO_FAULT_API int __wrap_rename(const char *a, const char *b);
DIO_FAULT_API int __wrap_mkstemp(char *t);
DIO_FAULT_API char *__wrap_mkdtemp(char *t);
DIO_FAULT_API int __wrap_mkdir(const char *p, mode_t m);
DIO_FAULT_API FILE *__wrap_fopen(const char *p, const char *m);
/* Weak: present only in a sanitizer build. */
extern void __sanitizer_print_stack_trace(void) __attribute__((weak));

static atomic_llong alloc_calls, write_calls, alloc_at_first_write = -1;
static atomic_int fired;                               /* 0 none, 1 alloc, 2 write */
static long long alloc_target = -1, write_target = -1; /* -1: unset; set once, before main */
static int trace;

static long long env_count(const char *name)
{
    const char *v = getenv(name);
    char *end = NULL;
    long long n;
    if (!v || !*v) return -1;
    errno = 0;
    n = strtoll(v, &end, 10);
    return errno || *end || n < 1 ? -1 : n;
}

static void say(const char *s)
{
    (void)!__real_write(2, s, strlen(s));
}

static void report(void)
{
    const char *path = getenv("DIO_FAULT_REPORT");
    char buf[256];
    int fd, len;
    if (!path || !*path) return;
    len = snprintf(buf, sizeof(buf), "alloc %lld\nwrite %lld\nalloc_at_first_write %lld\nfired %s\n",
                   atomic_load(&alloc_calls), atomic_load(&write_calls), atomic_load(&alloc_at_first_write),
                   atomic_load(&fired) == 1   ? "alloc"
                   : atomic_load(&fired) == 2 ? "write"
                                              : "none");
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    (void)!__real_write(fd, buf, (size_t)len);
    close(fd);
}

__attribute__((constructor)) static void fault_init(void)
{
    const char *t = getenv("DIO_FAULT_TRACE");
    alloc_target = env_count("DIO_FAULT_ALLOC");
    write_target = env_count("DIO_FAULT_WRITE");
    trace = t && *t && strcmp(t, "0") != 0;
    if (getenv("DIO_FAULT_REPORT")) atexit(report);
}

/* 1 when this call is the one to fail. */
static int hit(atomic_llong *counter, long long target, int kind, const char *what)
{
    long long n = atomic_fetch_add(counter, 1) + 1;
    if (kind == 2 && n == 1) atomic_store(&alloc_at_first_write, atomic_load(&alloc_calls));
    if (n != target) return 0;
    atomic_store(&fired, kind);
    if (trace) {
        char buf[96];
        snprintf(buf, sizeof(buf), "dio_fault: failing %s call %lld (%s)\n",
                 kind == 1 ? "allocation" : "write", n, what);
        say(buf);
        if (__sanitizer_print_stack_trace) __sanitizer_print_stack_trace();
    }
    return 1;
}

#define ALLOC_HIT(what) hit(&alloc_calls, alloc_target, 1, what)
#define WRITE_HIT(what) hit(&write_calls, write_target, 2, what)

void *__wrap_malloc(size_t n)
{
    if (ALLOC_HIT("malloc")) return errno = ENOMEM, NULL;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    if (ALLOC_HIT("calloc")) return errno = ENOMEM, NULL;
    return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (ALLOC_HIT("realloc")) return errno = ENOMEM, NULL;
    return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    if (ALLOC_HIT("strdup")) return errno = ENOMEM, NULL;
    return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    if (ALLOC_HIT("strndup")) return errno = ENOMEM, NULL;
    return __real_strndup(s, n);
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
    if (ALLOC_HIT("aligned_alloc")) return errno = ENOMEM, NULL;
    return __real_aligned_alloc(a, n);
}

int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    if (ALLOC_HIT("posix_memalign")) return ENOMEM;
    return __real_posix_memalign(p, a, n);
}

static int is_console(FILE *f)
{
    return f == stdout || f == stderr;
}

ssize_t __wrap_write(int fd, const void *b, size_t n)
{
    if (fd > 2 && WRITE_HIT("write")) return errno = ENOSPC, -1;
    return __real_write(fd, b, n);
}

size_t __wrap_fwrite(const void *b, size_t s, size_t n, FILE *f)
{
    if (!is_console(f) && WRITE_HIT("fwrite")) return errno = ENOSPC, 0;
    return __real_fwrite(b, s, n, f);
}

int __wrap_fflush(FILE *f)
{
    if (f && !is_console(f) && WRITE_HIT("fflush")) return errno = ENOSPC, EOF;
    return __real_fflush(f);
}

int __wrap_fsync(int fd)
{
    if (WRITE_HIT("fsync")) return errno = EIO, -1;
    return __real_fsync(fd);
}

int __wrap_rename(const char *a, const char *b)
{
    if (WRITE_HIT("rename")) return errno = ENOSPC, -1;
    return __real_rename(a, b);
}

int __wrap_mkstemp(char *t)
{
    if (WRITE_HIT("mkstemp")) return errno = ENOSPC, -1;
    return __real_mkstemp(t);
}

char *__wrap_mkdtemp(char *t)
{
    if (WRITE_HIT("mkdtemp")) return errno = ENOSPC, NULL;
    return __real_mkdtemp(t);
}

int __wrap_mkdir(const char *p, mode_t m)
{
    if (WRITE_HIT("mkdir")) return errno = ENOSPC, -1;
    return __real_mkdir(p, m);
}

FILE *__wrap_fopen(const char *p, const char *m)
{
    if (m && (strchr(m, 'w') || strchr(m, 'a') || strchr(m, '+')) && WRITE_HIT("fopen"))
        return errno = ENOSPC, NULL;
    return __real_fopen(p, m);
}
