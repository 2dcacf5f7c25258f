/* diorama generate — being written. */
#include "cli.h"

int cli_generate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}
