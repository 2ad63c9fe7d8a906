/* rt.h's API on glibc, for the builds of the workloads with the
 * distribution compiler's default flags (rv64gc, glibc, -O2 -static).
 * Output goes straight to write(2): no stdio buffer, so glibc's malloc
 * never runs and never moves the break under strings.c's raw brk calls.
 * memcpy/memset/memmove/memcmp/strlen come from glibc. */
#include <unistd.h>
#include "rt.h"

void print_str(const char *s) { write(1, s, strlen(s)); }
void print_u64(uint64_t v) {
    char buf[24]; int i = 23; buf[i] = 0;
    do { buf[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    print_str(&buf[i]);
}
void print_hex(uint64_t v) {
    char buf[19]; buf[18] = 0;
    for (int i = 17; i >= 2; i--) { buf[i] = "0123456789abcdef"[v & 15]; v >>= 4; }
    buf[0] = '0'; buf[1] = 'x';
    print_str(buf);
}
