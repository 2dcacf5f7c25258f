/* media_read.c — being written. */
