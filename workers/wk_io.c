/* workers/wk_io.c -- placeholder */
