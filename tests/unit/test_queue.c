/* tests/unit/test_queue.c -- placeholder while it is written. */
int main(void) { return 0; }
