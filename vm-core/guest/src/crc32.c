#include "rt.h"
#define LEN (1 << 20)
static uint8_t data[LEN];
static uint32_t table[256];
int main(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t x = 1;
    for (long i = 0; i < LEN; i++) { x = x * 1103515245u + 12345u; data[i] = (uint8_t)(x >> 16); }
    uint32_t crc = 0;
    for (int rep = 0; rep < 32; rep++) {
        crc = 0xFFFFFFFFu;
        for (long i = 0; i < LEN; i++) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
        crc ^= 0xFFFFFFFFu;
        data[rep] ^= (uint8_t)crc;
    }
    /* bitwise variant over a small prefix cross-checks the table */
    uint32_t c2 = 0xFFFFFFFFu;
    for (long i = 0; i < 4096; i++) { c2 ^= data[i]; for (int k = 0; k < 8; k++) c2 = (c2 >> 1) ^ (0xEDB88320u & -(c2 & 1)); }
    print_str("crc32="); print_hex(crc); print_str(" prefix="); print_hex(~c2 & 0xFFFFFFFFu); print_str("\n");
    return 33;
}
