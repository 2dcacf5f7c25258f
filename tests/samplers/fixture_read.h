/* Test helper: reads the tensors of a golden safetensors fixture as float64, whatever they are stored as
 * (F64, F32, I64). The fixtures of tests/fixtures/noise and tests/fixtures/schedulers hold float64
 * tensors, which dio_weights_open refuses (diorama has no f64 dtype), so the tests read the file format
 * themselves: 8-byte little-endian header length, a JSON header, then the raw little-endian data. */
#ifndef DIO_TEST_FIXTURE_READ_H
#define DIO_TEST_FIXTURE_READ_H

#include <stddef.h>
#include <stdint.h>

typedef struct fixture fixture;

/* NULL (and a printed reason) when the file cannot be read or parsed. */
fixture *fixture_open(const char *path);
void fixture_close(fixture *f);
/* The tensor's raw bytes, dtype name ("F64", "F32", "I64", ...) and element count; NULL when absent. */
const void *fixture_raw(const fixture *f, const char *name, const char **dtype, size_t *count);
/* A malloc'd float64 copy (F64, F32 or I64 converted exactly); NULL (and a printed reason) when absent or
 * of another dtype. *count gets the element count. */
double *fixture_f64(const fixture *f, const char *name, size_t *count);

#endif
