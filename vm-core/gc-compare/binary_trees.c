/* binary-trees (Benchmarks Game) on the Boehm GC, for comparison with
 * vm_core::gc::workloads::binary_trees. Build: gcc -O2 binary_trees.c -lgc */
#include <gc.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct Node { struct Node *left, *right; } Node;

static Node *bottom_up_tree(int depth) {
    Node *n = GC_MALLOC(sizeof(Node));
    if (!n) { fprintf(stderr, "out of memory\n"); exit(1); }
    if (depth > 0) {
        n->left = bottom_up_tree(depth - 1);
        n->right = bottom_up_tree(depth - 1);
    }
    return n;
}

static long item_check(Node *n) {
    return 1 + (n->left ? item_check(n->left) : 0) + (n->right ? item_check(n->right) : 0);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 16;
    int min_depth = 4, max_depth = n < min_depth + 2 ? min_depth + 2 : n;
    GC_INIT();
    Node *stretch = bottom_up_tree(max_depth + 1);
    printf("stretch tree of depth %d\t check: %ld\n", max_depth + 1, item_check(stretch));
    stretch = NULL;
    Node *long_lived = bottom_up_tree(max_depth);
    for (int d = min_depth; d <= max_depth; d += 2) {
        long iters = 1L << (max_depth - d + min_depth), check = 0;
        for (long i = 0; i < iters; i++) check += item_check(bottom_up_tree(d));
        printf("%ld\t trees of depth %d\t check: %ld\n", iters, d, check);
    }
    printf("long lived tree of depth %d\t check: %ld\n", max_depth, item_check(long_lived));
    return 0;
}
