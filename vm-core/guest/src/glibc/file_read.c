/* Reads a file through stdio under --fs-root: fopen/fgets/fread/fseek/
 * ftell/fstat, and what a missing file and a directory give. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: file_read FILE\n"); return 2; }
    FILE *f = fopen(argv[1], "r");
    if (!f) { fprintf(stderr, "%s: %s\n", argv[1], strerror(errno)); return 1; }
    char line[256];
    int lines = 0;
    unsigned long sum = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        for (char *c = line; *c; c++) sum = sum * 31 + (unsigned char)*c;
        if (lines <= 3) printf("line %d: %s", lines, line);
    }
    long size = ftell(f);
    printf("lines=%d bytes=%ld hash=%lu\n", lines, size, sum);
    fseek(f, 5, SEEK_SET);
    char buf[8] = {0};
    size_t got = fread(buf, 1, 7, f);
    printf("at 5: %zu '%s'\n", got, buf);
    struct stat st;
    if (stat(argv[1], &st) == 0)
        printf("stat: regular=%d size=%lld\n", S_ISREG(st.st_mode), (long long)st.st_size);
    fclose(f);
    errno = 0;
    FILE *m = fopen("no/such/file", "r");
    printf("missing: %s (%s)\n", m ? "opened" : "NULL", strerror(errno));
    FILE *d = fopen(".", "r");
    if (d) {
        errno = 0;
        int c = fgetc(d);
        printf("directory: fgetc=%d (%s)\n", c, strerror(errno));
        fclose(d);
    }
    return lines;
}
