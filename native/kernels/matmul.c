/*
 * matmul: C = A x B for n x n double matrices, naive i-j-k triple loop
 * (the inner loop walks B by column, so the data-cache behaviour depends
 * strongly on n and the cache geometry).
 *
 *   usage: matmul N [SEED]     N in 16..256, SEED default 1
 *
 * Inputs are uniform in [-1, 1) from the seeded PRNG; the checksum is the
 * FNV-1a hash of C's bits.
 *
 * Measured under qemu-riscv64 7.2 + libcachesim.so (L1I/L1D 32 KiB 8-way,
 * L2 256 KiB 16-way, 64 B lines) on the 2-core dev box:
 *   N=16: 0.02 s (0.07 M instructions); N=256: 0.66 s (122.8 M
 *   instructions, ~187 M instr/s); without the plugin 0.01 s / 0.22 s.
 */
#include "common.h"

int main(int argc, char **argv)
{
    long n, i, j, k;
    uint64_t seed;
    double *a, *b, *c;
    checksum_t ck;

    parse_args(argc, argv, "matrix dimension n", 16, 256, &n, &seed);
    rng_seed(seed);

    a = xcalloc((size_t)(n * n), sizeof(double));
    b = xcalloc((size_t)(n * n), sizeof(double));
    c = xcalloc((size_t)(n * n), sizeof(double));
    for (i = 0; i < n * n; i++) {
        a[i] = 2.0 * rng_double() - 1.0;
    }
    for (i = 0; i < n * n; i++) {
        b[i] = 2.0 * rng_double() - 1.0;
    }

    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) {
            double sum = 0.0;
            for (k = 0; k < n; k++) {
                sum += a[i * n + k] * b[k * n + j];
            }
            c[i * n + j] = sum;
        }
    }

    ck_init(&ck);
    ck_bytes(&ck, c, (size_t)(n * n) * sizeof(double));
    print_result("matmul", n, seed, &ck);
    free(a);
    free(b);
    free(c);
    return 0;
}
