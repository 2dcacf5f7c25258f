/* media_write.c — being written. */
