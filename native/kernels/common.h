/*
 * Shared helpers for cyclecast's RISC-V benchmark kernels:
 * argument parsing (SIZE [SEED]), a deterministic seeded PRNG (splitmix64)
 * and a 64-bit FNV-1a checksum printed as one line on stdout.
 */
#ifndef CYCLECAST_KERNEL_COMMON_H
#define CYCLECAST_KERNEL_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG: splitmix64 ------------------------------------------------- */

static uint64_t rng_state;

static inline void rng_seed(uint64_t seed)
{
    /* Mix the seed once so that seeds 1, 2, 3... give unrelated streams. */
    rng_state = seed ^ 0x6a09e667f3bcc909ULL;
}

static inline uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform double in [0, 1) */
static inline double rng_double(void)
{
    return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform float in [0, 1) */
static inline float rng_float(void)
{
    return (float)(rng_next() >> 40) * (1.0f / 16777216.0f);
}

/* uniform integer in [0, n), n > 0 (tiny modulo bias is irrelevant here) */
static inline uint32_t rng_below(uint32_t n)
{
    return (uint32_t)(rng_next() % n);
}

/* ---- checksum: FNV-1a 64 ---------------------------------------------- */

typedef struct {
    uint64_t h;
} checksum_t;

static inline void ck_init(checksum_t *c)
{
    c->h = 0xcbf29ce484222325ULL;
}

static inline void ck_bytes(checksum_t *c, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t h = c->h;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    c->h = h;
}

static inline void ck_u64(checksum_t *c, uint64_t v)
{
    ck_bytes(c, &v, sizeof(v));
}

/* ---- arguments -------------------------------------------------------- */

static int parse_u64_arg(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9') {
        return 0;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return 0;
    }
    *out = (uint64_t)v;
    return 1;
}

/*
 * Parses "SIZE [SEED]" (decimal, SIZE in [min_size, max_size], SEED default
 * 1). On error prints usage to stderr and exits with status 2.
 */
static void parse_args(int argc, char **argv, const char *what,
                       long min_size, long max_size,
                       long *size, uint64_t *seed)
{
    uint64_t s = 0, sd = 1;

    if (argc < 2 || argc > 3 || !parse_u64_arg(argv[1], &s) ||
        s < (uint64_t)min_size || s > (uint64_t)max_size ||
        (argc == 3 && !parse_u64_arg(argv[2], &sd))) {
        fprintf(stderr, "usage: %s SIZE [SEED]\n"
                "  SIZE: %s, %ld..%ld\n"
                "  SEED: non-negative integer PRNG seed (default 1)\n",
                argc > 0 ? argv[0] : "kernel", what, min_size, max_size);
        exit(2);
    }
    *size = (long)s;
    *seed = sd;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static void print_result(const char *kernel, long size, uint64_t seed,
                         const checksum_t *c)
{
    printf("%s size=%ld seed=%llu checksum=%016llx\n", kernel, size,
           (unsigned long long)seed, (unsigned long long)c->h);
}

#endif
