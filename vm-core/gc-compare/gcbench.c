/* Boehm's GCBench (Ellis/Kovac/Boehm), classic constants, on the Boehm GC,
 * for comparison with vm_core::gc::workloads::gcbench. gcc -O2 gcbench.c -lgc */
#include <gc.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct Node { struct Node *left, *right; long i, j; } Node;
enum { kStretchTreeDepth = 18, kLongLivedTreeDepth = 16, kArraySize = 500000,
       kMinTreeDepth = 4, kMaxTreeDepth = 16 };

static Node *new_node(Node *l, Node *r) {
    Node *n = GC_MALLOC(sizeof(Node));
    if (!n) { fprintf(stderr, "out of memory\n"); exit(1); }
    n->left = l; n->right = r;
    return n;
}
static long tree_size(int i) { return (1L << (i + 1)) - 1; }
static long num_iters(int i) { return 2 * tree_size(kStretchTreeDepth) / tree_size(i); }
static void populate(int depth, Node *n) {
    if (depth <= 0) return;
    n->left = new_node(NULL, NULL);
    n->right = new_node(NULL, NULL);
    populate(depth - 1, n->left);
    populate(depth - 1, n->right);
}
static Node *make_tree(int depth) {
    if (depth <= 0) return new_node(NULL, NULL);
    Node *l = make_tree(depth - 1), *r = make_tree(depth - 1);
    return new_node(l, r);
}
static long count(Node *n) { return n ? 1 + count(n->left) + count(n->right) : 0; }

int main(void) {
    GC_INIT();
    Node *temp = make_tree(kStretchTreeDepth);
    temp = NULL;
    Node *long_lived = new_node(NULL, NULL);
    populate(kLongLivedTreeDepth, long_lived);
    double *array = GC_MALLOC_ATOMIC(sizeof(double) * kArraySize);
    for (int i = 0; i < kArraySize / 2; i++) array[i] = 1.0 / i;
    for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) {
        long n = num_iters(d);
        for (long i = 0; i < n; i++) { temp = new_node(NULL, NULL); populate(d, temp); temp = NULL; }
        for (long i = 0; i < n; i++) { temp = make_tree(d); temp = NULL; }
        printf("depth %d: %ld top-down and %ld bottom-up trees\n", d, n, n);
    }
    printf("long-lived nodes %ld, array[1000] = %g\n", count(long_lived), array[1000]);
    return 0;
}
