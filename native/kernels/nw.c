/*
 * nw: Needleman-Wunsch global alignment of two random protein-like
 * sequences of length n (in the spirit of Rodinia's nw).
 *
 *   usage: nw N [SEED]     N in 128..2048, SEED default 1
 *
 * Builds the (n+1) x (n+1) int "reference" matrix R[i][j] = S[a_i][b_j],
 * where S is a fixed symmetric 24 x 24 BLOSUM-like substitution table
 * (generated from a fixed PRNG seed: positive diagonal, mostly negative
 * off-diagonal), then fills the (n+1) x (n+1) int score matrix
 *   M[i][j] = max(M[i-1][j-1] + R[i][j], M[i-1][j] - GAP, M[i][j-1] - GAP)
 * tile by tile (16 x 16 tiles visited in anti-diagonal wavefront order, as
 * Rodinia's CPU version does), then traces the optimal alignment back from
 * (n, n). This is done for PAIRS sequence pairs (one fixed first sequence,
 * a fresh second one per pair) reusing the same two matrices.
 * The checksum covers the final score, the traceback path and the last row.
 *
 * Measured under qemu-riscv64 7.2 + libcachesim.so (L1I/L1D 32 KiB 8-way,
 * L2 256 KiB 16-way, 64 B lines) on the 2-core dev box:
 *   N=128: 0.02 s (1.1 M instructions); N=2048: 0.73 s (251.2 M
 *   instructions); without the plugin 0.01 s / 0.12 s.
 */
#include "common.h"

#define ALPHA 24
#define GAP 10
#define BLOCK 16
#define PAIRS 2   /* sequence pairs aligned per run (tunes the run time) */

static int sub[ALPHA][ALPHA];

static void make_table(void)
{
    int i, j;

    rng_seed(0x5eedb10500ULL);      /* fixed: the table never depends on SEED */
    for (i = 0; i < ALPHA; i++) {
        sub[i][i] = 4 + (int)rng_below(8);              /* 4..11 */
        for (j = 0; j < i; j++) {
            int v = -4 + (int)rng_below(7);             /* -4..2 */
            sub[i][j] = v;
            sub[j][i] = v;
        }
    }
}

static inline int max3(int a, int b, int c)
{
    int m = a > b ? a : b;
    return m > c ? m : c;
}

/* fills the cells of one BLOCK x BLOCK tile whose top-left cell is (r0, c0) */
static void fill_block(int *m, const int *ref, long w, long n, long r0, long c0)
{
    long r1 = r0 + BLOCK - 1 < n ? r0 + BLOCK - 1 : n;
    long c1 = c0 + BLOCK - 1 < n ? c0 + BLOCK - 1 : n;
    long i, j;

    for (i = r0; i <= r1; i++) {
        const int *prev = m + (i - 1) * w;
        const int *rr = ref + i * w;
        int *cur = m + i * w;
        for (j = c0; j <= c1; j++) {
            cur[j] = max3(prev[j - 1] + rr[j], prev[j] - GAP, cur[j - 1] - GAP);
        }
    }
}

int main(int argc, char **argv)
{
    long n, i, j, w, nb, d, b;
    int pair;
    uint64_t seed, diag = 0, up = 0, left = 0;
    unsigned char *sa, *sb;
    int *m, *ref;
    checksum_t ck;

    parse_args(argc, argv, "sequence length n", 128, 2048, &n, &seed);
    make_table();
    rng_seed(seed);

    sa = xcalloc((size_t)n + 1, 1);
    sb = xcalloc((size_t)n + 1, 1);
    w = n + 1;
    m = xcalloc((size_t)(w * w), sizeof(int));
    ref = xcalloc((size_t)(w * w), sizeof(int));
    for (i = 1; i <= n; i++) {
        sa[i] = (unsigned char)rng_below(ALPHA);
    }
    ck_init(&ck);

    for (pair = 0; pair < PAIRS; pair++) {
        for (i = 1; i <= n; i++) {
            sb[i] = (unsigned char)rng_below(ALPHA);
        }

        /* substitution scores of every cell, as Rodinia's "reference" matrix */
        for (i = 1; i <= n; i++) {
            const int *row_sub = sub[sa[i]];
            for (j = 1; j <= n; j++) {
                ref[i * w + j] = row_sub[sb[j]];
            }
        }
        for (i = 0; i <= n; i++) {
            m[i * w] = -GAP * (int)i;
            m[i] = -GAP * (int)i;
        }

        /* fill: BLOCK x BLOCK tiles in anti-diagonal (wavefront) order */
        nb = (n + BLOCK - 1) / BLOCK;
        for (d = 0; d < 2 * nb - 1; d++) {
            for (b = 0; b <= d; b++) {
                long bi = b, bj = d - b;
                if (bi < nb && bj < nb) {
                    fill_block(m, ref, w, n, 1 + bi * BLOCK, 1 + bj * BLOCK);
                }
            }
        }

        /* traceback */
        diag = up = left = 0;
        ck_u64(&ck, (uint64_t)(int64_t)m[n * w + n]);
        i = n;
        j = n;
        while (i > 0 || j > 0) {
            int here = m[i * w + j];
            if (i > 0 && j > 0 &&
                here == m[(i - 1) * w + (j - 1)] + ref[i * w + j]) {
                i--;
                j--;
                diag++;
            } else if (i > 0 && here == m[(i - 1) * w + j] - GAP) {
                i--;
                up++;
            } else {
                j--;
                left++;
            }
            ck_u64(&ck, (uint64_t)(i * w + j));
        }
        ck_u64(&ck, diag);
        ck_u64(&ck, up);
        ck_u64(&ck, left);
        ck_bytes(&ck, m + n * w, (size_t)w * sizeof(int));
    }
    print_result("nw", n, seed, &ck);
    free(m);
    free(ref);
    free(sa);
    free(sb);
    return 0;
}
