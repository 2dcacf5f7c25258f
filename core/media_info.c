/* media_info.c — being written. */
