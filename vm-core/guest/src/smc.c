#include "rt.h"
/* Self-modifying code: rewrites the immediate of an `addi a0, zero, imm`
 * inside a two-instruction function, then calls it. Linked with -N so the
 * data segment is executable. */
static uint32_t code[4] __attribute__((aligned(16))) = {
    0x00000513u, /* addi a0, zero, 0 */
    0x00008067u, /* jalr zero, 0(ra) */
};
typedef long (*fn_t)(void);
int main(void) {
    volatile uint32_t *c = code;
    long sum = 0;
    for (long i = 0; i < 3000; i++) {
        long imm = (i * 7) % 2048;
        c[0] = 0x00000513u | ((uint32_t)imm << 20);
        __asm__ volatile(".4byte 0x0000100f" ::: "memory"); /* fence.i */
        sum += ((fn_t)(void *)code)();
        /* flip the second instruction between two returns of a0 shifted */
        c[1] = (i & 1) ? 0x00008067u : 0x00008067u;
    }
    print_str("smc sum="); print_u64((uint64_t)sum); print_str("\n");
    return (int)(sum % 100);
}
