/* dio_test_open_backend: see test_backend.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_backend.h"

const char *dio_test_backend_name(void)
{
    const char *b = getenv("DIORAMA_TEST_BACKEND");
    return b && *b ? b : "cpu";
}

dio_status dio_test_open_backend(const char *plugin_dir, dio_context **ctx, dio_backend **be)
{
    const char *dirs[2] = {plugin_dir, getenv("DIORAMA_TEST_BACKEND_DIR")};
    dio_context_options o;
    dio_status st;
    *ctx = NULL;
    *be = NULL;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.no_env = 1;
    o.no_default_dirs = 1;
    o.plugin_dirs = dirs;
    o.n_plugin_dirs = dirs[1] && *dirs[1] ? 2 : 1;
    if ((st = dio_context_create(&o, ctx)) != DIO_OK) {
        printf("FAIL: context: %s\n", dio_last_error());
        return st;
    }
    if ((st = dio_backend_open(*ctx, dio_test_backend_name(), NULL, 0, be)) != DIO_OK) {
        if (st == DIO_ERR_NOT_SUPPORTED)
            printf("SKIPPED: no %s device (%s)\n", dio_test_backend_name(), dio_last_error());
        else
            printf("FAIL: backend %s: %s\n", dio_test_backend_name(), dio_last_error());
        dio_context_destroy(*ctx);
        *ctx = NULL;
        return st;
    }
    printf("backend: %s\n", dio_test_backend_name());
    return DIO_OK;
}
