/* The replay driver: the same harness source that libFuzzer drives under clang, built with any compiler
 * as a plain program that feeds it every file named on the command line (a directory means each regular
 * file in it, in name order). This is how the seed corpora and every crash ever found (regressions/) run
 * as ctests in the gcc and sanitizer builds. An input that crashes the harness crashes this program, and
 * ctest reports the test failed with the file named last on stderr. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int run_file(const char *path)
{
    size_t size;
    unsigned char *data;
    fprintf(stderr, "replay: %s\n", path);
    data = fuzz_slurp(path, &size);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 1;
}

static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL, path[4096];
    size_t n = 0, cap = 0;
    int count = 0;
    struct stat sb;
    if (!d) {
        perror(dir);
        exit(2);
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
            if (!names) abort();
        }
        if (!(names[n++] = strdup(e->d_name))) abort();
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) count += run_file(path);
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    int count = 0;
    struct stat sb;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (stat(argv[i], &sb) != 0) {
            perror(argv[i]);
            return 2;
        }
        count += S_ISDIR(sb.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
    }
    if (count == 0) {
        fprintf(stderr, "replay: no input files (a replay that runs nothing proves nothing)\n");
        return 1;
    }
    printf("replay: %d inputs, no crash\n", count);
    return 0;
}
