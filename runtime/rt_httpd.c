/* runtime/rt_httpd.c -- placeholder while it is written. */
typedef int rt_httpd__placeholder;
