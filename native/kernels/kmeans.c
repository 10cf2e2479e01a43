/*
 * kmeans: Lloyd's k-means clustering of N random objects with NFEAT float
 * features into K clusters, a fixed number of iterations (in the spirit of
 * Rodinia's kmeans: assign each object to its nearest centre by squared
 * Euclidean distance, then recompute the centres).
 *
 *   usage: kmeans N [SEED]     N in 100..50000, SEED default 1
 *
 * Objects are drawn around K hidden centres so that the clustering is not
 * trivial; the initial centres are the first K objects. The checksum covers
 * the final memberships and centres.
 *
 * Measured under qemu-riscv64 7.2 + libcachesim.so (L1I/L1D 32 KiB 8-way,
 * L2 256 KiB 16-way, 64 B lines) on the 2-core dev box:
 *   N=100: 0.02 s (0.29 M instructions); N=50000: 0.72 s (131.6 M
 *   instructions); without the plugin 0.01 s / 0.52 s (softfloat-bound).
 */
#include "common.h"

#define NFEAT 8
#define K 5
#define ITERS 6

int main(int argc, char **argv)
{
    long n, i;
    int it, c, f;
    uint64_t seed;
    float *obj, centre[K][NFEAT], sum[K][NFEAT], hidden[K][NFEAT];
    int *member, count[K];
    checksum_t ck;

    parse_args(argc, argv, "number of objects", 100, 50000, &n, &seed);
    rng_seed(seed);

    for (c = 0; c < K; c++) {
        for (f = 0; f < NFEAT; f++) {
            hidden[c][f] = 10.0f * rng_float();
        }
    }
    obj = xcalloc((size_t)n * NFEAT, sizeof(float));
    member = xcalloc((size_t)n, sizeof(int));
    for (i = 0; i < n; i++) {
        c = (int)rng_below(K);
        for (f = 0; f < NFEAT; f++) {
            obj[i * NFEAT + f] = hidden[c][f] + 3.0f * (rng_float() - 0.5f);
        }
    }
    for (c = 0; c < K; c++) {
        for (f = 0; f < NFEAT; f++) {
            centre[c][f] = obj[c * NFEAT + f];
        }
    }

    for (it = 0; it < ITERS; it++) {
        memset(sum, 0, sizeof(sum));
        memset(count, 0, sizeof(count));
        for (i = 0; i < n; i++) {
            const float *o = obj + i * NFEAT;
            float best = 0.0f;
            int bi = 0;
            for (c = 0; c < K; c++) {
                float d = 0.0f;
                for (f = 0; f < NFEAT; f++) {
                    float t = o[f] - centre[c][f];
                    d += t * t;
                }
                if (c == 0 || d < best) {
                    best = d;
                    bi = c;
                }
            }
            member[i] = bi;
            count[bi]++;
            for (f = 0; f < NFEAT; f++) {
                sum[bi][f] += o[f];
            }
        }
        for (c = 0; c < K; c++) {
            if (count[c] > 0) {
                for (f = 0; f < NFEAT; f++) {
                    centre[c][f] = sum[c][f] / (float)count[c];
                }
            }
        }
    }

    ck_init(&ck);
    ck_bytes(&ck, member, (size_t)n * sizeof(int));
    ck_bytes(&ck, centre, sizeof(centre));
    print_result("kmeans", n, seed, &ck);
    free(obj);
    free(member);
    return 0;
}
