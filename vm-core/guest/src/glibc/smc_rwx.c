/* smc.c under glibc: a static glibc link cannot use -N (its start-up code
 * needs the ELF header mapped, __ehdr_start), so the data page holding the
 * rewritten code is made executable with mprotect before smc's main runs. */
#include <sys/mman.h>
#define main smc_main
#include "../smc.c"
#undef main

int main(void) {
    unsigned long page = (unsigned long)code & ~4095ul;
    if (mprotect((void *)page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) return 125;
    return smc_main();
}
