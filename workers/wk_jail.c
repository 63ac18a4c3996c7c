/* workers/wk_jail.c -- placeholder while it is written. */
typedef int wk_jail__placeholder;
