/* The fuzz harnesses' scratch files (fuzz_util.h). The scratch directory and everything put in it is
 * removed at exit, so a replay run or a fuzz campaign leaves nothing behind in $TMPDIR. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"

#ifndef DIO_FUZZ_SOURCE_DIR
#define DIO_FUZZ_SOURCE_DIR "."
#endif

static char scratch_dir[512];

static void scratch_remove(void)
{
    DIR *d = opendir(scratch_dir);
    struct dirent *e;
    char path[1200];
    if (!d) return;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", scratch_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(scratch_dir);
}

const char *fuzz_scratch(const char *tag)
{
    if (!scratch_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(scratch_dir, sizeof scratch_dir, "%s/dio_fuzz_%s_XXXXXX", tmp && tmp[0] ? tmp : "/tmp", tag);
        if (!mkdtemp(scratch_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(scratch_remove);
    }
    return scratch_dir;
}

void fuzz_put(const char *dir, const char *name, const void *data, size_t size, char *path, size_t path_cap)
{
    FILE *f;
    snprintf(path, path_cap, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

unsigned char *fuzz_slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) goto fail;
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) goto fail;
    buf[n] = 0;
    fclose(f);
    *size = (size_t)n;
    return buf;
fail:
    perror(path);
    abort();
}

const char *fuzz_source_path(const char *env, const char *rel, char *buf, size_t cap)
{
    const char *over = env ? getenv(env) : NULL;
    if (over && over[0])
        snprintf(buf, cap, "%s", over);
    else
        snprintf(buf, cap, "%s/%s", DIO_FUZZ_SOURCE_DIR, rel);
    return buf;
}
