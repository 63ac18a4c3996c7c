/* runtime/rt_recording.c -- placeholder, being written. */
