/* runtime/rt_queue.c -- placeholder while it is written. */
typedef int rt_queue__placeholder;
