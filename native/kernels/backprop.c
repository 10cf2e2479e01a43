/*
 * backprop: training of a 2-layer perceptron (IN inputs, 16 hidden units,
 * 1 output, float weights, sigmoid activations) with plain back-propagation
 * and momentum, in the spirit of Rodinia's backprop: forward pass, output
 * and hidden error terms, weight adjustment of both layers. The network is
 * trained for a fixed number of epochs on freshly drawn random patterns, so
 * the work scales linearly with IN.
 *
 *   usage: backprop IN [SEED]     IN in 16..4096, SEED default 1
 *
 * The checksum covers the final weights of both layers.
 *
 * Measured under qemu-riscv64 7.2 + libcachesim.so (L1I/L1D 32 KiB 8-way,
 * L2 256 KiB 16-way, 64 B lines) on the 2-core dev box:
 *   IN=16: 0.02 s (0.46 M instructions); IN=4096: 0.58 s (86.2 M
 *   instructions); without the plugin 0.01 s / 0.31 s (softfloat-bound).
 */
#include <math.h>

#include "common.h"

#define HID 16
#define EPOCHS 60
#define ETA 0.3f
#define MOMENTUM 0.3f

static float squash(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

int main(int argc, char **argv)
{
    long in, i;
    int e, j;
    uint64_t seed;
    float *x, *w1, *dw1;            /* (in + 1) x HID, row 0 = bias */
    float w2[HID + 1], dw2[HID + 1];
    float h[HID + 1], dh[HID];
    float out, target, dout;
    checksum_t ck;

    parse_args(argc, argv, "input layer size", 16, 4096, &in, &seed);
    rng_seed(seed);

    x = xcalloc((size_t)in + 1, sizeof(float));
    w1 = xcalloc((size_t)(in + 1) * HID, sizeof(float));
    dw1 = xcalloc((size_t)(in + 1) * HID, sizeof(float));
    for (i = 0; i < (in + 1) * HID; i++) {
        w1[i] = 0.1f * (rng_float() - 0.5f);
    }
    for (j = 0; j <= HID; j++) {
        w2[j] = rng_float() - 0.5f;
        dw2[j] = 0.0f;
    }

    for (e = 0; e < EPOCHS; e++) {
        /* a new random pattern; the target is a simple function of it */
        float acc = 0.0f;
        x[0] = 1.0f;
        for (i = 1; i <= in; i++) {
            x[i] = rng_float();
            acc += (i & 1) ? x[i] : -x[i];
        }
        target = acc > 0.0f ? 0.9f : 0.1f;

        /* forward: input -> hidden */
        for (j = 0; j < HID; j++) {
            h[j + 1] = 0.0f;
        }
        for (i = 0; i <= in; i++) {
            const float xi = x[i];
            const float *wr = w1 + i * HID;
            for (j = 0; j < HID; j++) {
                h[j + 1] += wr[j] * xi;
            }
        }
        h[0] = 1.0f;
        for (j = 1; j <= HID; j++) {
            h[j] = squash(h[j]);
        }
        /* hidden -> output */
        out = 0.0f;
        for (j = 0; j <= HID; j++) {
            out += w2[j] * h[j];
        }
        out = squash(out);

        /* error terms */
        dout = out * (1.0f - out) * (target - out);
        for (j = 0; j < HID; j++) {
            dh[j] = h[j + 1] * (1.0f - h[j + 1]) * w2[j + 1] * dout;
        }

        /* adjust hidden -> output weights */
        for (j = 0; j <= HID; j++) {
            float d = ETA * dout * h[j] + MOMENTUM * dw2[j];
            w2[j] += d;
            dw2[j] = d;
        }
        /* adjust input -> hidden weights */
        for (i = 0; i <= in; i++) {
            const float xi = ETA * x[i];
            float *wr = w1 + i * HID;
            float *dr = dw1 + i * HID;
            for (j = 0; j < HID; j++) {
                float d = dh[j] * xi + MOMENTUM * dr[j];
                wr[j] += d;
                dr[j] = d;
            }
        }
    }

    ck_init(&ck);
    ck_bytes(&ck, w1, (size_t)(in + 1) * HID * sizeof(float));
    ck_bytes(&ck, w2, sizeof(w2));
    print_result("backprop", in, seed, &ck);
    free(x);
    free(w1);
    free(dw1);
    return 0;
}
