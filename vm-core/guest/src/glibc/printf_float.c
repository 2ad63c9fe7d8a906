/* printf of floats and doubles: every conversion, precision and flag
 * glibc's printf_fp and printf_fphex handle, special values included. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double doubles[] = {
    0.0, -0.0, 1.0, -1.5, 0.1, 1.0 / 3.0, 2.0 / 3.0, 3.14159265358979323846,
    2.718281828459045, 1e-300, 4.9406564584124654e-324, 2.2250738585072014e-308,
    1.7976931348623157e308, 123456789.125, 9007199254740993.0, 0.5, 2.5, -2.5,
    1e22, 1e23, 5e-324, 6.02214076e23, 299792458.0, 1e-7, 123.456e-10,
};
static const float floats[] = {
    0.0f, -0.0f, 1.0f, 0.1f, 1.0f / 3.0f, 3.14159265f, 16777217.0f, 1e-45f,
    1.17549435e-38f, 3.40282347e38f, -2.5f, 0.3f, 1234.5678f,
};

int main(void) {
    const char *fmts[] = {"%f", "%.0f", "%.3f", "%e", "%.10e", "%g", "%.17g",
                          "%a", "%+.2f", "% .4e", "%#g", "%20.6f", "%-12.3g|", "%010.2f"};
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
        for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
            printf(fmts[f], doubles[i]);
            putchar(f + 1 < sizeof fmts / sizeof fmts[0] ? ' ' : '\n');
        }
    }
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        float v = floats[i];
        printf("%.9g %a %f %e\n", v, v, v, (double)v * 3.0f);
    }
    double specials[] = {INFINITY, -INFINITY, NAN, -NAN};
    for (int i = 0; i < 4; i++) printf("%f %e %g %a %5.1f|\n", specials[i], specials[i],
                                       specials[i], specials[i], specials[i]);
    /* Round trips through strtod/strtof and snprintf. */
    char buf[64];
    unsigned long bad = 0;
    double x = 1.0;
    for (int i = 0; i < 2000; i++) {
        x = x * 1.0001234567 + 1e-3 / (i + 1);
        snprintf(buf, sizeof buf, "%.17g", x);
        if (strtod(buf, NULL) != x) bad++;
        float y = (float)x;
        snprintf(buf, sizeof buf, "%.9g", y);
        if (strtof(buf, NULL) != y) bad++;
    }
    printf("round trips: x=%.17g bad=%lu\n", x, bad);
    printf("DBL_EPSILON=%a FLT_MAX=%g DBL_MIN=%g\n", DBL_EPSILON, FLT_MAX, DBL_MIN);
    fprintf(stderr, "stderr: %.3f\n", 2.0 / 7.0);
    return 0;
}
