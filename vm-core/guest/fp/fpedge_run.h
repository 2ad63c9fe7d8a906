/* Driver of the F/D sweep (see gen.py). */
static uint64_t hash, count;
static int verbose;

static void mix(uint64_t r, uint64_t flags) {
    for (int i = 0; i < 8; i++) {
        hash ^= (r >> (8 * i)) & 0xff;
        hash *= 0x100000001b3UL;
    }
    hash ^= flags;
    hash *= 0x100000001b3UL;
    count++;
    if (verbose) {
        print_str("  ");
        print_hex(r);
        print_str(" ");
        print_hex(flags);
        print_str("\n");
    }
}

static inline uint64_t take_flags(void) {
    uint64_t f;
    __asm__ volatile("csrrw %0, fflags, zero" : "=r"(f));
    return f;
}
static inline void set_frm(uint64_t m) { __asm__ volatile("csrw frm, %0" ::"r"(m)); }
static inline uint64_t get_frm(void) {
    uint64_t m;
    __asm__ volatile("csrr %0, frm" : "=r"(m));
    return m;
}

static const char *RM_NAMES[] = {"rne", "rtz", "rdn", "rup", "rmm", "dyn"};

static void run(const struct op *o, opfn fn) {
    const uint64_t *t = o->prec == 'd' ? D : o->prec == 's' ? S : I;
    unsigned n = o->prec == 'd' ? N(D) : o->prec == 's' ? N(S) : N(I);
    for (unsigned i = 0; i < n; i++) {
        if (o->arity == 1) {
            uint64_t r = fn(t[i], 0, 0);
            mix(r, take_flags());
            continue;
        }
        for (unsigned j = 0; j < n; j++) {
            if (o->arity == 2) {
                uint64_t r = fn(t[i], t[j], 0);
                mix(r, take_flags());
                continue;
            }
            for (unsigned k = 0; k < N(C3); k++) {
                uint64_t r = fn(t[i], t[j], t[C3[k]]);
                mix(r, take_flags());
            }
        }
    }
}

static void line(const struct op *o, const char *mode) {
    print_str(o->name);
    print_str(" ");
    print_str(mode);
    print_str(" ");
    print_hex(hash);
    print_str(" ");
    print_u64(count);
    print_str("\n");
}

int main(int argc, char **argv) {
    (void)argv;
    verbose = argc > 1;
    take_flags();
    for (unsigned k = 0; k < N(OPS); k++) {
        const struct op *o = &OPS[k];
        for (int m = 0; m < o->nrm; m++) {
            /* Static modes under frm = 0; dynamic under every frm value
             * (fused multiply-adds: RUP only, to bound the run time). */
            for (uint64_t frm = 0; frm < 5; frm++) {
                if (m != 5 && frm != 0) break;
                if (m == 5 && o->arity == 3 && frm != 3) continue;
                set_frm(frm);
                hash = 0xcbf29ce484222325UL;
                count = 0;
                run(o, o->fn[m]);
                char mode[5] = {0};
                if (o->nrm == 1) {
                    mode[0] = '-';
                } else if (m < 5) {
                    for (int c = 0; c < 3; c++) mode[c] = RM_NAMES[m][c];
                } else {
                    mode[0] = 'd';
                    mode[1] = '0' + (char)get_frm();
                }
                line(o, mode);
            }
        }
    }
    set_frm(0);
    /* Zicsr: fcsr packs frm and fflags; writes keep only the low 8 bits. */
    uint64_t v;
    __asm__ volatile("fscsr %0, %1" : "=r"(v) : "r"(0xffffUL));
    __asm__ volatile("frcsr %0" : "=r"(v));
    print_str("fcsr ");
    print_hex(v);
    __asm__ volatile("fsrmi %0, 2" : "=r"(v));
    print_str(" ");
    print_hex(v);
    __asm__ volatile("frflags %0" : "=r"(v));
    print_str(" ");
    print_hex(v);
    __asm__ volatile("frcsr %0" : "=r"(v));
    print_str(" ");
    print_hex(v);
    print_str("\n");
    /* Loads and stores move raw bits: flw boxes, fsw stores the low word. */
    static volatile uint64_t mem[2] = {0x1122334455667788UL, 0};
    __asm__ volatile("flw f4, 0(%1)\n\tfmv.x.d %0, f4" : "=r"(v) : "r"(mem) : "f4");
    print_str("flw ");
    print_hex(v);
    __asm__ volatile("fmv.d.x f4, %0\n\tfsw f4, 8(%1)" ::"r"(0xabcdef0012345678UL), "r"(mem) : "f4", "memory");
    print_str(" fsw ");
    print_hex(mem[1]);
    __asm__ volatile("fld f4, 0(%1)\n\tfsd f4, 8(%1)" ::"r"(0), "r"(mem) : "f4", "memory");
    print_str(" fsd ");
    print_hex(mem[1]);
    print_str("\n");
    return 0;
}
