/* Tiny freestanding runtime for the guest workloads: raw Linux RISC-V
 * syscalls plus the few libc routines gcc may emit calls to. */
#ifndef RT_H
#define RT_H
typedef unsigned long size_t;
typedef unsigned long uint64_t;
typedef long int64_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;

static inline long sys3(long n, long a, long b, long c) {
    register long a0 __asm__("a0") = a;
    register long a1 __asm__("a1") = b;
    register long a2 __asm__("a2") = c;
    register long a7 __asm__("a7") = n;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
    return a0;
}
static inline long sys_write(int fd, const void *buf, size_t len) { return sys3(64, fd, (long)buf, (long)len); }
static inline long sys_brk(void *p) { return sys3(214, (long)p, 0, 0); }
static inline void sys_exit(int code) { sys3(93, code, 0, 0); for (;;) {} }

void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

void print_str(const char *s);
void print_u64(uint64_t v);
void print_hex(uint64_t v);
#endif
