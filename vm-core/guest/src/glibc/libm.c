/* libm: sin, exp, pow, fmod, fma, lrint (and a few neighbours), printed
 * in hex so every bit of every result is compared. */
#include <fenv.h>
#include <math.h>
#include <stdio.h>

int main(void) {
    const double xs[] = {0.0, -0.0, 0.5, 1.0, -1.0, 2.5, -2.5, 3.5, 10.0, 100.25,
                         1e-10, 1e10, 710.0, -745.5, 0.1, 1e300, -3.75, 6.283185307179586,
                         1e-320, 0.7853981633974483};
    int n = sizeof xs / sizeof xs[0];
    for (int i = 0; i < n; i++) {
        double x = xs[i];
        printf("x=%a sin=%a cos=%a exp=%a log=%a sqrt=%a\n", x, sin(x), cos(x), exp(x),
               log(fabs(x)), sqrt(fabs(x)));
        printf("  pow=%a fmod=%a fma=%a lrint=%ld floor=%a tanh=%a atan2=%a\n", pow(fabs(x), 1.5),
               fmod(x, 0.75), fma(x, 1.0000001, -x), lrint(x > 1e18 || x < -1e18 ? 0 : x),
               floor(x), tanh(x), atan2(x, 1.5));
    }
    float f = 0.1f;
    for (int i = 0; i < 8; i++) {
        printf("f=%a sinf=%a expf=%a powf=%a fmaf=%a lrintf=%ld\n", f, sinf(f), expf(f),
               powf(f, 2.5f), fmaf(f, f, -1.0f), lrintf(f * 10.0f));
        f *= -3.7f;
    }
    int modes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    volatile double three = 3.0;
    for (int m = 0; m < 4; m++) {
        fesetround(modes[m]);
        printf("mode %d: lrint(2.5)=%ld lrint(-2.5)=%ld lrint(3.5)=%ld rint(-0.5)=%a 1/3=%a\n", m,
               lrint(2.5), lrint(-2.5), lrint(3.5), rint(-0.5), 1.0 / three);
    }
    fesetround(FE_TONEAREST);
    feclearexcept(FE_ALL_EXCEPT);
    volatile double z = 0.0;
    volatile double r = 1.0 / z;
    printf("1/0=%a divbyzero=%d\n", r, fetestexcept(FE_DIVBYZERO) != 0);
    printf("pow(2,0.5)=%.17g fmod(-7,3)=%g fma(0.1,10,-1)=%a\n", pow(2, 0.5), fmod(-7, 3),
           fma(0.1, 10, -1));
    return 0;
}
