/* Helpers shared by the fuzz harnesses (tests/fuzz): a scratch directory made once per process and
 * removed at exit, and whole-file writes into it. A harness that cannot set up aborts at once — that is
 * a broken test machine, not a finding — so the helpers never return an error. */
#ifndef DIO_FUZZ_UTIL_H
#define DIO_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The scratch directory ($TMPDIR or /tmp, dio_fuzz_<tag>_XXXXXX), made on the first call. */
const char *fuzz_scratch(const char *tag);
/* Writes SIZE bytes to DIR/NAME (replacing it); the path goes to PATH (PATH_CAP bytes). Aborts on error. */
void fuzz_put(const char *dir, const char *name, const void *data, size_t size, char *path, size_t path_cap);
/* Reads a whole file into a malloc'd buffer (NUL-terminated beyond *SIZE). Aborts on error. */
unsigned char *fuzz_slurp(const char *path, size_t *size);
/* A directory baked in at build time (DIO_FUZZ_SOURCE_DIR/REL), or the environment's override. */
const char *fuzz_source_path(const char *env, const char *rel, char *buf, size_t cap);

#endif
