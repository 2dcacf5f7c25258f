/* pipeline.c — being written. */
