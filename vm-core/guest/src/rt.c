#include "rt.h"

void *memcpy(void *d, const void *s, size_t n) {
    unsigned char *dp = d; const unsigned char *sp = s;
    /* word copy when both are aligned: the string workload exercises both paths */
    if ((((size_t)dp | (size_t)sp) & 7) == 0) {
        while (n >= 8) { *(uint64_t *)dp = *(const uint64_t *)sp; dp += 8; sp += 8; n -= 8; }
    }
    while (n--) *dp++ = *sp++;
    return d;
}
void *memset(void *d, int c, size_t n) {
    unsigned char *dp = d;
    while (n--) *dp++ = (unsigned char)c;
    return d;
}
void *memmove(void *d, const void *s, size_t n) {
    unsigned char *dp = d; const unsigned char *sp = s;
    if (dp < sp) { while (n--) *dp++ = *sp++; }
    else { dp += n; sp += n; while (n--) *--dp = *--sp; }
    return d;
}
int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++) if (*x != *y) return *x - *y;
    return 0;
}
size_t strlen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
void print_str(const char *s) { sys_write(1, s, strlen(s)); }
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
