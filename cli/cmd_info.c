/* diorama info — being written. */
#include "cli.h"

int cli_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}
