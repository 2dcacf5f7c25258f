/* `diorama component run` end to end, with the example-affine component: good runs checked against
 * values computed here in double precision, and bad inputs (wrong parameter, missing input, missing
 * weight, unwritable output) that must fail with a message naming the problem and leave no output
 * file behind. Usage: test_component_run DIORAMA_EXE PLUGIN_DIR WORK_DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diorama/diorama.h"

static int failures;
#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            failures++;                                                                                      \
            printf("FAIL line %d: ", __LINE__);                                                              \
            printf(__VA_ARGS__);                                                                             \
            printf("\n");                                                                                    \
        }                                                                                                    \
    } while (0)

enum { A = 3, B = 5, C = 7 };
static const char *exe, *plugin_dir, *work;

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Runs the CLI; returns its exit status and leaves its stderr in work/stderr.txt. */
static int run_cli(const char *args)
{
    char cmd[12288];
    int rc;
    snprintf(cmd, sizeof(cmd), "'%s' --plugin-dir '%s' %s 2> '%s/stderr.txt' > /dev/null", exe, plugin_dir,
             args, work);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int stderr_has(const char *needle)
{
    char path[4096], buf[8192];
    size_t n;
    FILE *f;
    snprintf(path, sizeof(path), "%s/stderr.txt", work);
    if (!(f = fopen(path, "r"))) return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    if (!strstr(buf, needle)) {
        printf("  stderr was: %s", buf);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    float x[A * B * C], scale[C], bias[C];
    char wpath[1024], ipath[1024], opath[1024], args[8192], bad_ipath[1024], nobias_w[1024];
    dio_named_tensor t[2];
    dio_weights *out = NULL;
    dio_weight_info y;
    const float alpha = 0.5f;
    if (argc != 4) {
        fprintf(stderr, "usage: test_component_run DIORAMA_EXE PLUGIN_DIR WORK_DIR\n");
        return 2;
    }
    exe = argv[1], plugin_dir = argv[2], work = argv[3];
    mkdir(work, 0755);
    srand(1234);
    for (int i = 0; i < A * B * C; i++) x[i] = (float)((double)rand() / RAND_MAX) * 4 - 2;
    for (int i = 0; i < C; i++) scale[i] = (float)((double)rand() / RAND_MAX) + 0.5f, bias[i] = (float)i - 3.0f;

    snprintf(wpath, sizeof(wpath), "%s/weights.safetensors", work);
    snprintf(nobias_w, sizeof(nobias_w), "%s/no_scale.safetensors", work);
    snprintf(ipath, sizeof(ipath), "%s/inputs.safetensors", work);
    snprintf(bad_ipath, sizeof(bad_ipath), "%s/wrong_inputs.safetensors", work);
    snprintf(opath, sizeof(opath), "%s/outputs.safetensors", work);
    remove(opath);
    t[0] = (dio_named_tensor){"scale", DIO_DTYPE_F32, 1, {C}, scale};
    t[1] = (dio_named_tensor){"bias", DIO_DTYPE_F32, 1, {C}, bias};
    CHECK(dio_safetensors_write(wpath, t, 2, NULL, 0) == DIO_OK, "write weights: %s", dio_last_error());
    CHECK(dio_safetensors_write(nobias_w, &t[1], 1, NULL, 0) == DIO_OK, "write weights: %s",
          dio_last_error());
    t[0] = (dio_named_tensor){"x", DIO_DTYPE_F32, 3, {A, B, C}, x};
    CHECK(dio_safetensors_write(ipath, t, 1, NULL, 0) == DIO_OK, "write inputs: %s", dio_last_error());
    t[0].name = "not_x";
    CHECK(dio_safetensors_write(bad_ipath, t, 1, NULL, 0) == DIO_OK, "write inputs: %s", dio_last_error());

    /* 1. A good run, compared with the same formula in double. */
    snprintf(args, sizeof(args),
             "component run example-affine --weights '%s' --params '{\"alpha\": 0.5}' --inputs '%s' "
             "--outputs '%s'",
             wpath, ipath, opath);
    CHECK(run_cli(args) == 0, "good run failed");
    CHECK(dio_weights_open(opath, &out) == DIO_OK, "open outputs: %s", dio_last_error());
    if (out) {
        y.struct_size = sizeof(y);
        CHECK(dio_weights_find(out, "y", &y) == DIO_OK, "output y missing");
        CHECK(y.dtype == DIO_DTYPE_F32 && y.ndim == 3 && y.shape[0] == A && y.shape[1] == B &&
                  y.shape[2] == C,
              "output y has the wrong type or shape");
        if (y.data && y.nbytes == sizeof(x)) {
            double worst = 0;
            for (int i = 0; i < A * B * C; i++) {
                double want = (double)alpha * x[i] * scale[i % C] + bias[i % C];
                /* Error relative to the operands' magnitude: three f32 roundings, and x·scale may
                 * nearly cancel the bias. */
                double mag = fabs((double)alpha * x[i] * scale[i % C]) + fabs(bias[i % C]);
                double err = fabs(((const float *)y.data)[i] - want) / (mag + 1e-30);
                if (err > worst) worst = err;
            }
            CHECK(worst < 1e-6, "max relative error %g", worst);
            printf("good run: max relative error %g\n", worst);
        }
        dio_weights_close(out);
    }
    remove(opath);

    /* 2. Bad inputs: each fails, names the problem, leaves no output file. */
    snprintf(args, sizeof(args),
             "component run example-affine --weights '%s' --params '{\"alpha\": \"loud\"}' --inputs '%s' "
             "--outputs '%s'",
             wpath, ipath, opath);
    CHECK(run_cli(args) == 1 && stderr_has("parameter \"alpha\" = \"loud\" is not a number"), "bad alpha");
    CHECK(!exists(opath), "output left behind after a bad parameter");

    snprintf(
        args, sizeof(args),
        "component run example-affine --weights '%s' --params '{\"beta\": 1}' --inputs '%s' --outputs '%s'",
        wpath, ipath, opath);
    CHECK(run_cli(args) == 1 && stderr_has("unknown parameter \"beta\" (known: alpha)"), "unknown parameter");

    snprintf(args, sizeof(args), "component run example-affine --weights '%s' --inputs '%s' --outputs '%s'",
             wpath, bad_ipath, opath);
    CHECK(run_cli(args) == 1 && stderr_has("has no tensor \"x\""), "missing input");
    CHECK(!exists(opath), "output left behind after a missing input");

    snprintf(args, sizeof(args), "component run example-affine --weights '%s' --inputs '%s' --outputs '%s'",
             nobias_w, ipath, opath);
    CHECK(run_cli(args) == 1 && stderr_has("weight \"scale\" is missing"), "missing weight");

    snprintf(
        args, sizeof(args),
        "component run example-affine --weights '%s' --inputs '%s' --outputs '%s/no/such/dir/o.safetensors'",
        wpath, ipath, work);
    CHECK(run_cli(args) == 1 && stderr_has("cannot write the outputs"), "unwritable output");

    snprintf(args, sizeof(args), "component run no-such-component --inputs '%s' --outputs '%s'", ipath,
             opath);
    CHECK(run_cli(args) == 1 && stderr_has("no component plugin named \"no-such-component\""),
          "unknown component");

    snprintf(
        args, sizeof(args),
        "--backend no-such-backend component run example-affine --weights '%s' --inputs '%s' --outputs '%s'",
        wpath, ipath, opath);
    CHECK(run_cli(args) == 1 && stderr_has("no backend plugin named \"no-such-backend\""), "unknown backend");
    CHECK(!exists(opath), "output left behind");

    printf(failures ? "%d failure(s)\n" : "all component-run checks passed\n", failures);
    return failures ? 1 : 0;
}
