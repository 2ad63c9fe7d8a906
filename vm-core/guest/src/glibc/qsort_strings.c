/* qsort of integers, doubles and strings; the string functions. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}
static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
    enum { N = 20000 };
    static int v[N];
    static double d[N];
    uint32_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        v[i] = (int)(s >> 1) - (1 << 30);
        d[i] = (double)(int)(s >> 8) / 977.0;
    }
    qsort(v, N, sizeof v[0], cmp_int);
    qsort(d, N, sizeof d[0], cmp_dbl);
    long ok = 1;
    for (int i = 1; i < N; i++) ok &= v[i - 1] <= v[i] && d[i - 1] <= d[i];
    printf("sorted=%ld min=%d max=%d median=%.6f\n", ok, v[0], v[N - 1], d[N / 2]);
    static char words[2000][16];
    static char *wp[2000];
    for (int i = 0; i < 2000; i++) {
        s = s * 1103515245u + 12345u;
        int n = 3 + (s >> 28);
        for (int k = 0; k < n; k++) {
            s = s * 1103515245u + 12345u;
            words[i][k] = (char)('a' + (s >> 16) % 26);
        }
        words[i][n] = 0;
        wp[i] = words[i];
    }
    qsort(wp, 2000, sizeof wp[0], cmp_str);
    printf("first=%s last=%s\n", wp[0], wp[1999]);
    char text[] = "The quick brown fox jumps over the lazy dog; the dog sleeps.";
    printf("strlen=%zu strchr=%s strrchr=%s strstr=%s\n", strlen(text), strchr(text, 'q'),
           strrchr(text, 't'), strstr(text, "lazy"));
    printf("strspn=%zu strcspn=%zu strncmp=%d memcmp=%d\n", strspn(text, "Teh"),
           strcspn(text, ";"), strncmp(text, "The quick", 9) == 0, memcmp("abc", "abd", 3) < 0);
    char copy[128];
    strcpy(copy, text);
    memmove(copy + 4, copy, 20);
    copy[40] = 0;
    printf("memmove=%s\n", copy);
    char up[128];
    size_t i;
    for (i = 0; text[i]; i++) up[i] = (char)toupper((unsigned char)text[i]);
    up[i] = 0;
    printf("upper=%s\n", up);
    int count = 0;
    for (char *t = strtok(text, " ;."); t; t = strtok(NULL, " ;.")) count++;
    printf("tokens=%d\n", count);
    char num[64];
    snprintf(num, sizeof num, "%d|%5s|%-5s|%x|%lo|%c", -42, "ab", "cd", 0xbeef, 0777ul, 'z');
    printf("snprintf=%s strtol=%ld strtoul=%lu atoi=%d\n", num, strtol("-0x1f", NULL, 16),
           strtoul("777", NULL, 8), atoi("  123abc"));
    char cat[64] = "alpha";
    strcat(cat, "-beta");
    strncat(cat, "-gamma-delta", 6);
    printf("strcat=%s dup=%s\n", cat, strdup(cat));
    return count;
}
