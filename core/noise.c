/* noise.c — being written. */
