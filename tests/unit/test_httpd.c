/* tests/unit/test_httpd.c -- placeholder while it is written. */
int main(void) { return 0; }
