/* runtime/rt_http.c -- placeholder, being written. */
