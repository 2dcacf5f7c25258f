/* The backend a component test runs on: the CPU backend unless DIORAMA_TEST_BACKEND names another (the
 * SIMT emulator plugin, gpuemu, in CI; cuda or hip on a GPU machine), whose plugin directory
 * DIORAMA_TEST_BACKEND_DIR may add to the test's own. The same golden fixtures then check that backend. */
#ifndef DIO_TEST_BACKEND_H
#define DIO_TEST_BACKEND_H

#include "diorama/diorama.h"

/* Creates a context over plugin_dir (no environment, no default dirs) and opens the test backend in it.
 * On failure prints why, destroys what it made and returns the status; a backend with no device returns
 * NOT_SUPPORTED (callers exit 77). The caller owns *ctx and *be. */
dio_status dio_test_open_backend(const char *plugin_dir, dio_context **ctx, dio_backend **be);
/* The test backend's name ("cpu" by default). */
const char *dio_test_backend_name(void);

#endif
