/* workers/wk_supervisor.c -- placeholder while it is written. */
typedef int wk_supervisor__placeholder;
