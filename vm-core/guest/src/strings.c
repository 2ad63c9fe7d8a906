#include "rt.h"
/* String/memcpy-heavy: heap via brk, copies at varying alignments, reversal,
 * searching and a rolling hash. Exercises byte/half/word loads and stores. */
static char *heap_alloc(size_t n) {
    static char *cur = 0;
    if (!cur) cur = (char *)sys_brk(0);
    char *p = cur;
    char *want = cur + ((n + 15) & ~15UL);
    if ((char *)sys_brk(want) != want) { print_str("brk failed\n"); sys_exit(3); }
    cur = want;
    return p;
}
int main(void) {
    const size_t SZ = 1 << 16;
    char *a = heap_alloc(SZ), *b = heap_alloc(SZ + 16);
    const char *words[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"};
    size_t pos = 0; unsigned w = 0;
    while (pos + 16 < SZ) {
        const char *s = words[w++ % 7]; size_t l = strlen(s);
        memcpy(a + pos, s, l); pos += l; a[pos++] = ' ';
    }
    a[pos] = 0;
    uint64_t h = 0, found = 0;
    for (int rep = 0; rep < 200; rep++) {
        size_t off = (size_t)rep % 13;
        memcpy(b + off, a, pos + 1);
        memmove(b + off + 1, b + off, pos / 2);
        for (size_t i = 0, j = pos - 1; i < j; i++, j--) { char t = b[off + i]; b[off + i] = b[off + j]; b[off + j] = t; }
        for (size_t i = 0; i + 4 < pos; i++) if (memcmp(b + off + i, "ahpl", 4) == 0) found++;
        uint16_t *hw = (uint16_t *)(b + ((off + 1) & ~1UL));
        for (size_t i = 0; i < pos / 4; i++) h = (h ^ hw[i]) * 1099511628211UL;
    }
    print_str("strings len="); print_u64(pos); print_str(" found="); print_u64(found);
    print_str(" hash="); print_hex(h); print_str("\n");
    return 44;
}
