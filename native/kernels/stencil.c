/*
 * stencil: three Jacobi sweeps of a 5-point stencil over an n x n grid of
 * doubles (two grids, read one and write the other, then swap), the kind of
 * kernel none of cyclecast's models was tuned on: streaming reads of three
 * rows at once and a streaming write, so its write-backs and the L2's reuse
 * across rows depend on n and the cache geometry.
 *
 *   usage: stencil N [SEED]     N in 32..512, SEED default 1
 *
 * Inputs are uniform in [0, 1) from the seeded PRNG; the boundary stays
 * fixed; the checksum is the FNV-1a hash of the final grid's bits.
 */
#include "common.h"

#define SWEEPS 3

int main(int argc, char **argv)
{
    long n, i, j, s;
    uint64_t seed;
    double *grid, *next, *swap;
    checksum_t ck;

    parse_args(argc, argv, "grid side n", 32, 512, &n, &seed);
    rng_seed(seed);

    grid = xcalloc((size_t)(n * n), sizeof(double));
    next = xcalloc((size_t)(n * n), sizeof(double));
    for (i = 0; i < n * n; i++) {
        grid[i] = rng_double();
        next[i] = grid[i];
    }

    for (s = 0; s < SWEEPS; s++) {
        for (i = 1; i < n - 1; i++) {
            for (j = 1; j < n - 1; j++) {
                next[i * n + j] = 0.2 * (grid[i * n + j] + grid[(i - 1) * n + j] +
                                         grid[(i + 1) * n + j] + grid[i * n + j - 1] +
                                         grid[i * n + j + 1]);
            }
        }
        swap = grid;
        grid = next;
        next = swap;
    }

    ck_init(&ck);
    ck_bytes(&ck, grid, (size_t)(n * n) * sizeof(double));
    print_result("stencil", n, seed, &ck);
    free(grid);
    free(next);
    return 0;
}
