/* runtime/rt_redis.c -- placeholder while it is written. */
typedef int rt_redis__placeholder;
