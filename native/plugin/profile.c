/*
 * profile: cyclecast's LRU stack-distance profiling plugin (QEMU TCG plugin
 * API v1, QEMU 7.2, user mode).
 *
 * One run records what every LRU cache of a design space would see, so that
 * miss counts for many geometries can be derived without re-simulating.
 *
 * For each line size L (lines=..., default 16,32,64) and each power-of-two
 * set count S = 1, 2, 4, ..., max_sets (default 8192), and for three access
 * streams
 *   instr   - one access per executed instruction at its guest virtual
 *             address (same stream as cachesim's L1I),
 *   data    - one access per guest memory operation at its guest virtual
 *             address, line-crossing accesses not split (cachesim's L1D),
 *   unified - both interleaved in program order (an instruction's fetch,
 *             then its data access(es), then the next instruction's fetch),
 * every set keeps an LRU stack of the last max_ways (default 8) distinct line
 * numbers, and a histogram counts the stack distance of every access:
 * hist[d] for d = 1..max_ways (found at depth d) plus "beyond" (not among
 * the top max_ways; cold misses land there too). By the LRU stack property
 * (Mattson et al. 1970) an LRU cache with S sets, W <= max_ways ways and
 * L-byte lines misses exactly  accesses - sum_{d<=W} hist[d]  times.
 *
 * Arguments:
 *   out=PATH        JSON result (tmp file + rename; default: stderr)
 *   lines=16:32:64  line sizes, powers of two in 4..4096, separated by ':'
 *                   (or by ',' escaped for qemu as ',,')
 *   max_ways=8      1..32
 *   max_sets=8192   power of two, 1..1048576
 *   l1d_kib=none    distinct L1D sizes (KiB, powers of two, e.g. 1:2:4:8:16)
 *                   whose L2 is profiled behind them (see below); none by default:
 *                   it costs 10-20x the rest of the profile on miss-heavy
 *                   kernels (about 19 L2 accesses per data access for nw)
 *   behind_ratio=8  power of two: those L2s up to this many times the L1D's
 *                   capacity (larger ones see nearly the unified stream)
 *
 * JSON (one object):
 *   instructions, loads, stores, max_ways, max_sets, lines: [..],
 *   order_errors (see below; 0 means the unified stream is exact),
 *   footprint_lines: {"data": {"16": n, ...}, "instr": {...}}  (distinct
 *     lines touched, per line size),
 *   streams: {"instr"|"data"|"unified": {"L": {"S": [accesses, h1, ...,
 *     h_max_ways, beyond]}}},
 *   writebacks: {"data": {"L": {"S": [wb1, ..., wb_max_ways]}}}  (write-backs
 *     of a write-back, write-allocate LRU cache with S sets, W ways, L-byte
 *     lines on the data stream, i.e. cachesim's L1D: wbW; see touch_data_w)
 *   l2_behind_l1d: {"L": {"S1xW1": {"accesses": n, "misses": {"S": [accesses,
 *     h1, ..., beyond]}, "writebacks": {"S": [wb1, ...]}}}}  (S up to
 *     behind_ratio x the L1D's capacity in lines; for every L1D
 *     of l1d_kib x power-of-two ways <= max_ways with L-byte lines, S1 sets
 *     and W1 ways: the stream that L1D sends to the L2, i.e. each miss's
 *     fill then the dirty victim's write-back, through every LRU cache of S
 *     sets and L-byte lines, write-back and write-allocate, as cachesim's L2
 *     but without the L1I's misses; see l2_behind)
 *
 * Speed notes:
 *   - per line size and stream all set counts are walked from S = 1 upwards.
 *     The lines mapping to one set of a 2S-set cache are a subset of those
 *     mapping to the corresponding set of the S-set cache, so the stack
 *     distance never grows with S. Once an access is found at depth 1 (MRU,
 *     the stack is unchanged) it is at depth 1 for every larger S as well:
 *     the walk stops and one counter (stop1[level]) records it; the output
 *     adds those counts to hist[1] of that level and all larger ones.
 *   - instruction fetches are delivered per run: at translation time the
 *     instructions of a TB are grouped into runs of consecutive instructions
 *     in the same smallest-size line; one callback per run touches the line
 *     once per line size and counts the other instructions of the run as
 *     depth-1 repeats (exact under LRU: nothing else is accessed in between).
 *     For the unified stream a data access must not fall inside a run, so a
 *     run also ends after every instruction that may access memory; that is
 *     decided by decoding RISC-V opcodes (loads, stores, AMOs incl. the
 *     compressed forms; for other targets every instruction ends a run). The
 *     memory callback checks the decision: a memory access by an
 *     instruction that was not a run end is counted in order_errors (the
 *     instr and data streams are exact regardless).
 *   - footprints: a line is looked up in a hash set only when it was
 *     "beyond" at the largest set count (then it is beyond everywhere);
 *     any line seen before and still in some stack is never looked up.
 *
 * QEMU 7.2 quirk (see cachesim.c): one QEMU_PLUGIN_MEM_RW memory callback,
 * loads and stores told apart with qemu_plugin_mem_is_store().
 * Threads: one shared model, serialised with a mutex once a second vCPU
 * appears, like cachesim.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qemu-plugin.h>

#include "report.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define INVALID UINT64_MAX
#define MAX_LINES 8
#define MAX_WAYS_LIMIT 32
#define MAX_SETS_LIMIT (1u << 20)

enum { ST_INSTR, ST_DATA, ST_UNIFIED, ST_N };
static const char *const stream_names[ST_N] = { "instr", "data", "unified" };

/* open-addressing hash set of line numbers (key + 1 stored; 0 = empty) */
typedef struct {
    uint64_t *keys;
    uint64_t cap;   /* power of two */
    uint64_t n;
} LineSet;

typedef struct {
    uint64_t *tags;     /* levels concatenated: level k (2^k sets) starts at
                           set index 2^k - 1; each set is `ways` tags MRU..LRU */
    uint64_t *hist;     /* nlev x (ways + 1): [d - 1] for depth d, [ways]
                           = beyond */
    uint64_t *stop1;    /* nlev: accesses first found at depth 1 at level k */
    uint32_t *dirty;    /* data stream only (else NULL), beside tags: bit W-1
                           = written since it entered a W-way cache */
    uint64_t *wb;       /* data stream: nlev x ways, [W - 1] = write-backs of
                           a W-way cache (dirty lines pushed past depth W) */
    uint64_t accesses;
    unsigned nlev;      /* levels: 2^0 .. 2^(nlev - 1) sets */
    unsigned shift;     /* log2 line size */
    LineSet *fp;        /* footprint (instr/data streams only) */
#ifdef PROF_STATS
    uint64_t walk, calls;
#endif
} Prof;

static unsigned n_lines;
static unsigned line_sizes[MAX_LINES];
static unsigned ways = 8;
static unsigned nlev;               /* log2(max_sets) + 1 */
static uint64_t max_sets = 8192;
static unsigned min_shift;          /* log2 of the smallest line size */
static uint64_t min_line;

static Prof prof[ST_N][MAX_LINES];

/*
 * What one data access did to the data stream's stacks, per level k: the
 * index where the line was found (0 = depth 1; ways = beyond), and for each
 * W the line pushed from depth W to W + 1 (the victim of a W-way cache) and
 * whether it was dirty for W. Levels from `stop` on found it at depth 1.
 */
#define MAX_LEVELS 21
typedef struct {
    unsigned found[MAX_LEVELS];
    uint64_t victim[MAX_LEVELS][MAX_WAYS_LIMIT];
    uint32_t victim_dirty[MAX_LEVELS];
    unsigned stop;
} Capture;

/* An L1D geometry and the L2 behind it (the stream that L1D sends it). */
typedef struct {
    unsigned level, ways;   /* log2 sets, ways of the L1D */
    Prof l2;
} Behind;

#define MAX_L1D_SIZES 16
#define MAX_POW2_WAYS 6     /* 1, 2, 4, ..., MAX_WAYS_LIMIT (32) */
static unsigned n_l1d_sizes = 0;  /* none unless asked: see l1d_kib */
static uint64_t l1d_kib[MAX_L1D_SIZES] = { 1, 2, 4, 8, 16, 32, 64 };
static uint64_t behind_ratio = 8;  /* largest L2 / L1D capacity profiled behind it */
static Behind *behind[MAX_LINES];
static unsigned n_behind[MAX_LINES];
static LineSet footprint[2][MAX_LINES];

static uint64_t n_insns;            /* inline per-TB adds */
static uint64_t n_mem, n_stores, order_errors;
static bool riscv;

static volatile bool multi_vcpu;
static unsigned n_vcpus_seen;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static char *out_path;
static pid_t owner_pid;

/* ------------------------------------------------------------------ */
/* footprint hash set                                                   */

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return x;
}

static void set_insert(LineSet *s, uint64_t line);

static void set_grow(LineSet *s)
{
    LineSet old = *s;
    uint64_t i;

    s->cap = old.cap ? old.cap * 2 : 1024;
    s->keys = calloc(s->cap, sizeof(uint64_t));
    s->n = 0;
    if (!s->keys) {
        fprintf(stderr, "profile: out of memory\n");
        abort();
    }
    for (i = 0; i < old.cap; i++) {
        if (old.keys[i]) {
            set_insert(s, old.keys[i] - 1);
        }
    }
    free(old.keys);
}

static void set_insert(LineSet *s, uint64_t line)
{
    uint64_t key = line + 1, i;

    if (unlikely(2 * (s->n + 1) > s->cap)) {
        set_grow(s);
    }
    for (i = mix(key) & (s->cap - 1); s->keys[i]; i = (i + 1) & (s->cap - 1)) {
        if (s->keys[i] == key) {
            return;
        }
    }
    s->keys[i] = key;
    s->n++;
}

/* ------------------------------------------------------------------ */
/* stack-distance model                                                 */

/*
 * One access to `line` (already shifted), plus `repeats` further accesses
 * to the same line right after it (depth 1 everywhere, state unchanged).
 * Each level does search and move-to-front in one pass: entries are shifted
 * down one place until the line (or the end of the stack) is reached.
 * Inlined with a constant w for the default max_ways = 8.
 */
static inline __attribute__((always_inline))
void touch_w(Prof *p, uint64_t line, uint64_t repeats, const unsigned w)
{
    uint64_t *hist = p->hist;
    unsigned k, i = 0;

    p->accesses += 1 + repeats;
    p->stop1[0] += repeats;
#ifdef PROF_STATS
    p->calls++;
#endif
    for (k = 0; k < p->nlev; k++, hist += w + 1) {
        uint64_t first = (UINT64_C(1) << k) - 1;
        uint64_t *s = p->tags + (first + (line & first)) * w;
        uint64_t prev;

#ifdef PROF_STATS
        p->walk++;
#endif
        if (s[0] == line) {
            p->stop1[k]++;
            return;
        }
        prev = s[0];
        s[0] = line;
        for (i = 1; i < w; i++) {
            uint64_t t = s[i];

            s[i] = prev;
            if (t == line) {
                break;
            }
            prev = t;
        }
        hist[i]++;                      /* i = depth - 1, or w = beyond */
    }
    if (i == w && p->fp) {              /* beyond at the largest S: maybe new */
        set_insert(p->fp, line);
    }
}

/*
 * The data stream's touch: as touch_w, and also the write-backs of every
 * write-back, write-allocate LRU cache (cachesim's L1D). By the stack
 * property a W-way cache holds exactly the W most recent lines of a set, so
 * a line leaves it when it is pushed from depth W to W + 1; it leaves dirty
 * iff it was written since it last entered, i.e. since it was last pushed
 * past depth W. Each entry keeps one dirty bit per W: a store sets them all,
 * a push from depth W to W + 1 counts one write-back for W if bit W - 1 is
 * set, and clears it. Lines still cached at exit are not counted (cachesim
 * does not flush either).
 */
static inline __attribute__((always_inline))
void touch_data_w(Prof *p, uint64_t line, bool store, const unsigned w,
                  Capture *cap)
{
    const uint32_t all = w >= 32 ? UINT32_MAX : (UINT32_C(1) << w) - 1;
    uint64_t *hist = p->hist, *wb = p->wb;
    unsigned k, i = 0;

    p->accesses++;
    for (k = 0; k < p->nlev; k++, hist += w + 1, wb += w) {
        uint64_t first = (UINT64_C(1) << k) - 1;
        uint64_t *s = p->tags + (first + (line & first)) * w;
        uint32_t *d = p->dirty + (first + (line & first)) * w;
        uint64_t prev;
        uint32_t prev_dirty, mine = 0, pushed_dirty = 0;

        if (s[0] == line) {             /* depth 1 here and at every larger S */
            p->stop1[k]++;
            if (cap) {
                cap->stop = k;
            }
            for (; store && k < p->nlev; k++) {
                first = (UINT64_C(1) << k) - 1;
                p->dirty[(first + (line & first)) * w] |= all;
            }
            return;
        }
        prev = s[0];
        prev_dirty = d[0];
        s[0] = line;
        for (i = 1; i < w; i++) {
            uint64_t t = s[i];
            uint32_t td = d[i];

            /* prev goes from depth i to i + 1: it leaves the i-way cache */
            wb[i - 1] += (prev_dirty >> (i - 1)) & 1;
            if (cap) {
                cap->victim[k][i - 1] = prev;
                pushed_dirty |= prev_dirty & (UINT32_C(1) << (i - 1));
            }
            s[i] = prev;
            d[i] = prev_dirty & ~(UINT32_C(1) << (i - 1));
            if (t == line) {
                mine = td;
                break;
            }
            prev = t;
            prev_dirty = td;
        }
        if (i == w) {                   /* prev leaves the stack: depth w + 1 */
            wb[w - 1] += (prev_dirty >> (w - 1)) & 1;
            if (cap) {
                cap->victim[k][w - 1] = prev;
                pushed_dirty |= prev_dirty & (UINT32_C(1) << (w - 1));
            }
        }
        if (cap) {
            cap->found[k] = i;
            cap->victim_dirty[k] = pushed_dirty;
        }
        d[0] = mine | (store ? all : 0);
        hist[i]++;
    }
    if (cap) {
        cap->stop = p->nlev;
    }
    if (i == w && p->fp) {
        set_insert(p->fp, line);
    }
}

static inline __attribute__((always_inline))
void touch_data(Prof *p, uint64_t line, bool store, Capture *cap)
{
    if (likely(ways == 8)) {
        touch_data_w(p, line, store, 8, cap);
    } else {
        touch_data_w(p, line, store, ways, cap);
    }
}

/*
 * The L2s behind the L1Ds of line size j, after the data stream's access to
 * `line` recorded in `cap`: an L1D of 2^level sets and W ways missed iff the
 * line was not among the W most recent of its set; then the L2 gets the fill
 * (clean) and, if the L1D's victim was dirty, its write-back (dirty), in
 * cachesim's order. An L2 access is a data-stream touch of that L2's stacks,
 * so one pass gives every L2 set count and associativity.
 */
static void l2_behind(unsigned j, uint64_t line, const Capture *cap)
{
    unsigned g;

    for (g = 0; g < n_behind[j]; g++) {
        Behind *b = &behind[j][g];
        unsigned k = b->level, w = b->ways;

        if (k >= cap->stop || cap->found[k] < w) {
            continue;                   /* a hit in that L1D */
        }
        touch_data(&b->l2, line, false, NULL);
        if ((cap->victim_dirty[k] >> (w - 1)) & 1) {
            touch_data(&b->l2, cap->victim[k][w - 1], true, NULL);
        }
    }
}

static inline void touch(Prof *p, uint64_t line, uint64_t repeats)
{
    if (likely(ways == 8)) {
        touch_w(p, line, repeats, 8);
    } else {
        touch_w(p, line, repeats, ways);
    }
}

static inline void fetch_run(uintptr_t run)
{
    uint64_t addr = (uint64_t)run & ~(min_line - 1);
    uint64_t repeats = (run & (min_line - 1)) - 1;
    unsigned j;

    for (j = 0; j < n_lines; j++) {
        uint64_t line = addr >> prof[ST_INSTR][j].shift;

        touch(&prof[ST_INSTR][j], line, repeats);
        touch(&prof[ST_UNIFIED][j], line, repeats);
    }
}

static inline void data_access(uint64_t vaddr, bool store)
{
    unsigned j;

    Capture cap;

    for (j = 0; j < n_lines; j++) {
        uint64_t line = vaddr >> prof[ST_DATA][j].shift;

        if (unlikely(n_behind[j])) {
            touch_data(&prof[ST_DATA][j], line, store, &cap);
            l2_behind(j, line, &cap);
        } else {                        /* a constant NULL: no capture code inlined */
            touch_data(&prof[ST_DATA][j], line, store, NULL);
        }
        touch(&prof[ST_UNIFIED][j], line, 0);
    }
}

/* ------------------------------------------------------------------ */
/* callbacks                                                            */

static void mem_cb(unsigned int vcpu, qemu_plugin_meminfo_t info,
                   uint64_t vaddr, void *ud)
{
    uint64_t is_store = qemu_plugin_mem_is_store(info) ? 1 : 0;

    if (unlikely(multi_vcpu)) {
        pthread_mutex_lock(&lock);
    }
    n_stores += is_store;
    n_mem++;
    order_errors += ud == NULL;         /* not a run end: unified order off */
    data_access(vaddr, is_store);
    if (unlikely(multi_vcpu)) {
        pthread_mutex_unlock(&lock);
    }
}

static void run_cb(unsigned int vcpu, void *ud)
{
    if (unlikely(multi_vcpu)) {
        pthread_mutex_lock(&lock);
        fetch_run((uintptr_t)ud);
        pthread_mutex_unlock(&lock);
        return;
    }
    fetch_run((uintptr_t)ud);
}

/*
 * Whether an instruction may access memory. RISC-V: 32-bit LOAD (0x03),
 * LOAD-FP (0x07), STORE (0x23), STORE-FP (0x27), AMO (0x2f); compressed
 * quadrants 0 and 2 with funct3 1, 2, 3 (loads) or 5, 6, 7 (stores).
 * Unknown targets or unreadable bytes: true (always safe).
 */
static bool may_access_memory(struct qemu_plugin_insn *insn)
{
    const uint8_t *b = qemu_plugin_insn_data(insn);
    size_t size = qemu_plugin_insn_size(insn);

    if (!riscv || !b || size < 2) {
        return true;
    }
    if ((b[0] & 3) != 3) {
        unsigned quadrant = b[0] & 3;
        unsigned funct3 = b[1] >> 5;

        return (quadrant == 0 || quadrant == 2) && funct3 != 0 && funct3 != 4;
    }
    switch (b[0] & 0x7f) {
    case 0x03: case 0x07: case 0x23: case 0x27: case 0x2f:
        return true;
    default:
        return size != 4;   /* longer encodings: be safe */
    }
}

/*
 * One callback for loads and stores (see the header comment). Its userdata
 * says whether the instruction ends its fetch run (so the next instruction's
 * fetch has its own callback, after this instruction's data accesses).
 */
static void register_mem(struct qemu_plugin_insn *insn, bool run_end)
{
    qemu_plugin_register_vcpu_mem_cb(insn, mem_cb, QEMU_PLUGIN_CB_NO_REGS,
                                     QEMU_PLUGIN_MEM_RW,
                                     run_end ? (void *)1 : NULL);
}

static void tb_trans_cb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    size_t i;
    struct qemu_plugin_insn *head = NULL, *prev = NULL;
    uint64_t run_line = 0, run_len = 0;
    bool prev_mem = false;

    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
                                             &n_insns, n);

    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t line = qemu_plugin_insn_vaddr(insn) >> min_shift;
        bool new_run = head == NULL || line != run_line || prev_mem ||
                       run_len == min_line - 1;

        if (prev) {
            register_mem(prev, new_run);
        }
        if (new_run) {
            if (head) {
                qemu_plugin_register_vcpu_insn_exec_cb(
                    head, run_cb, QEMU_PLUGIN_CB_NO_REGS,
                    (void *)(uintptr_t)((run_line << min_shift) | run_len));
            }
            head = insn;
            run_line = line;
            run_len = 0;
        }
        run_len++;
        prev_mem = may_access_memory(insn);
        prev = insn;
    }
    if (head) {
        register_mem(prev, true);
        qemu_plugin_register_vcpu_insn_exec_cb(
            head, run_cb, QEMU_PLUGIN_CB_NO_REGS,
            (void *)(uintptr_t)((run_line << min_shift) | run_len));
    }
}

static void vcpu_init_cb(qemu_plugin_id_t id, unsigned int vcpu_index)
{
    pthread_mutex_lock(&lock);
    n_vcpus_seen++;
    if (n_vcpus_seen > 1 || vcpu_index > 0) {
        multi_vcpu = true;
    }
    pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------------------------ */
/* output                                                               */

/* {"S": [accesses, h1 (with the depth-1 stops), ..., h_ways, beyond], ...} */
static bool write_hist(FILE *f, const Prof *p)
{
    uint64_t depth1 = 0;
    unsigned k, d;
    bool ok = fputc('{', f) != EOF;

    for (k = 0; k < p->nlev; k++) {
        const uint64_t *h = p->hist + (size_t)k * (ways + 1);

        depth1 += p->stop1[k];
        ok &= fprintf(f, "%s\"%" PRIu64 "\": [%" PRIu64 ", %" PRIu64,
                      k ? ", " : "", UINT64_C(1) << k, p->accesses,
                      h[0] + depth1) > 0;
        for (d = 1; d <= ways; d++) {
            ok &= fprintf(f, ", %" PRIu64, h[d]) > 0;
        }
        ok &= fputc(']', f) != EOF;
    }
    return ok && fputc('}', f) != EOF;
}

/* {"S": [wb1, ..., wb_ways], ...} */
static bool write_wb(FILE *f, const Prof *p)
{
    unsigned k, d;
    bool ok = fputc('{', f) != EOF;

    for (k = 0; k < p->nlev; k++) {
        const uint64_t *w = p->wb + (size_t)k * ways;

        ok &= fprintf(f, "%s\"%" PRIu64 "\": [", k ? ", " : "",
                      UINT64_C(1) << k) > 0;
        for (d = 0; d < ways; d++) {
            ok &= fprintf(f, "%s%" PRIu64, d ? ", " : "", w[d]) > 0;
        }
        ok &= fputc(']', f) != EOF;
    }
    return ok && fputc('}', f) != EOF;
}

static bool write_json(FILE *f)
{
    unsigned s, j, g;
    bool ok = true;

    ok &= fprintf(f, "{\"instructions\": %" PRIu64 ", \"loads\": %" PRIu64
                  ", \"stores\": %" PRIu64 ", \"max_ways\": %u, \"max_sets\": %"
                  PRIu64 ", \"order_errors\": %" PRIu64 ", \"lines\": [",
                  multi_vcpu ? prof[ST_INSTR][0].accesses : n_insns,
                  n_mem - n_stores, n_stores, ways, max_sets,
                  order_errors) > 0;
    for (j = 0; j < n_lines; j++) {
        ok &= fprintf(f, "%s%u", j ? ", " : "", line_sizes[j]) > 0;
    }
    ok &= fputs("],\n \"footprint_lines\": {", f) >= 0;
    for (s = 0; s < 2; s++) {
        ok &= fprintf(f, "%s\"%s\": {", s ? ", " : "", stream_names[s]) > 0;
        for (j = 0; j < n_lines; j++) {
            ok &= fprintf(f, "%s\"%u\": %" PRIu64, j ? ", " : "",
                          line_sizes[j], footprint[s][j].n) > 0;
        }
        ok &= fputc('}', f) != EOF;
    }
    ok &= fputs("},\n \"streams\": {", f) >= 0;
    for (s = 0; s < ST_N; s++) {
        ok &= fprintf(f, "%s\n  \"%s\": {", s ? "," : "", stream_names[s]) > 0;
        for (j = 0; j < n_lines; j++) {
            ok &= fprintf(f, "%s\n   \"%u\": ", j ? "," : "",
                          line_sizes[j]) > 0;
            ok &= write_hist(f, &prof[s][j]);
        }
        ok &= fputc('}', f) != EOF;
    }
    ok &= fputs("},\n \"writebacks\": {\"data\": {", f) >= 0;
    for (j = 0; j < n_lines; j++) {
        ok &= fprintf(f, "%s\n   \"%u\": ", j ? "," : "", line_sizes[j]) > 0;
        ok &= write_wb(f, &prof[ST_DATA][j]);
    }
    ok &= fputs("}},\n \"l2_behind_l1d\": {", f) >= 0;
    for (j = 0; j < n_lines; j++) {
        ok &= fprintf(f, "%s\n   \"%u\": {", j ? "," : "", line_sizes[j]) > 0;
        for (g = 0; g < n_behind[j]; g++) {
            const Behind *b = &behind[j][g];

            ok &= fprintf(f, "%s\n    \"%" PRIu64 "x%u\": {\"accesses\": %" PRIu64
                          ", \"misses\": ", g ? "," : "", UINT64_C(1) << b->level,
                          b->ways, b->l2.accesses) > 0;
            ok &= write_hist(f, &b->l2);
            ok &= fputs(", \"writebacks\": ", f) >= 0;
            ok &= write_wb(f, &b->l2);
            ok &= fputc('}', f) != EOF;
        }
        ok &= fputc('}', f) != EOF;
    }
    ok &= fputs("}}\n", f) >= 0;
    return ok;
}

static void atexit_cb(qemu_plugin_id_t id, void *p)
{
    pthread_mutex_lock(&lock);
#ifdef PROF_STATS
    for (unsigned a = 0; a < ST_N; a++)
        for (unsigned b = 0; b < n_lines; b++)
            fprintf(stderr, "%s %u: touches %" PRIu64 " levels/touch %.2f\n",
                    stream_names[a], line_sizes[b], prof[a][b].calls,
                    (double)prof[a][b].walk / prof[a][b].calls);
#endif
    report_write("profile", out_path, owner_pid, write_json);
    pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------------------------ */
/* argument parsing                                                     */

static bool parse_u64(const char *s, char **end, uint64_t *v)
{
    unsigned long long x;

    if (!s || *s < '0' || *s > '9') {
        return false;
    }
    errno = 0;
    x = strtoull(s, end, 10);
    if (errno) {
        return false;
    }
    *v = x;
    return true;
}

static bool is_pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

/*
 * A list of distinct powers of two in lo..hi, separated by ':' (or by ','
 * escaped for qemu as ',,'), at most `max` of them, into out[0 .. *n - 1];
 * else a one-line message naming the argument and false.
 */
static bool parse_pow2_list(const char *s, const char *name, uint64_t lo,
                            uint64_t hi, unsigned max, uint64_t *out,
                            unsigned *n)
{
    *n = 0;
    for (;;) {
        char *end;
        uint64_t v;
        unsigned j;

        if (!parse_u64(s, &end, &v) || !is_pow2(v) || v < lo || v > hi) {
            fprintf(stderr, "profile: %s: each value must be a power of two in "
                    "%" PRIu64 "..%" PRIu64 " (separated by ':')\n", name, lo, hi);
            return false;
        }
        for (j = 0; j < *n; j++) {
            if (out[j] == v) {
                fprintf(stderr, "profile: %s: %" PRIu64 " given twice\n", name, v);
                return false;
            }
        }
        if (*n == max) {
            fprintf(stderr, "profile: %s: at most %u values\n", name, max);
            return false;
        }
        out[(*n)++] = v;
        if (*end == '\0') {
            return true;
        }
        if (*end != ':' && *end != ',') {
            fprintf(stderr, "profile: %s: bad separator '%c'\n", name, *end);
            return false;
        }
        s = end + 1;
    }
}

static bool parse_lines(const char *s)
{
    uint64_t sizes[MAX_LINES];
    unsigned j;

    if (!parse_pow2_list(s, "lines", 4, 4096, MAX_LINES, sizes, &n_lines)) {
        return false;
    }
    for (j = 0; j < n_lines; j++) {
        line_sizes[j] = (unsigned)sizes[j];
    }
    return true;
}

static bool parse_l1d_kib(const char *s)
{
    if (strcmp(s, "none") == 0) {
        n_l1d_sizes = 0;
        return true;
    }
    return parse_pow2_list(s, "l1d_kib", 1, UINT64_C(1) << 20, MAX_L1D_SIZES,
                           l1d_kib, &n_l1d_sizes);
}

static bool prof_init(Prof *p, unsigned shift, LineSet *fp, bool dirty,
                      unsigned levels);

/* The L1D geometries of line size j whose L2 is profiled: l1d_kib x ways
   1, 2, 4, ... <= max_ways, where the set count is 1..max_sets. */
static bool behind_init(unsigned j)
{
    unsigned a, w, n = 0;

    behind[j] = calloc((size_t)MAX_L1D_SIZES * MAX_POW2_WAYS, sizeof(Behind));
    if (!behind[j]) {
        fprintf(stderr, "profile: out of memory\n");
        return false;
    }
    for (a = 0; a < n_l1d_sizes; a++) {
        for (w = 1; w <= ways; w *= 2) {
            uint64_t sets = l1d_kib[a] * 1024 / ((uint64_t)w * line_sizes[j]);

            if (sets < 1 || sets > max_sets || !is_pow2(sets)) {
                continue;
            }
            /* L2s of up to behind_ratio x this L1D's capacity (any ways) */
            uint64_t l2_sets = behind_ratio * l1d_kib[a] * 1024 / line_sizes[j];
            unsigned levels = l2_sets > max_sets ? nlev
                              : (unsigned)__builtin_ctzll(l2_sets) + 1;

            behind[j][n].level = (unsigned)__builtin_ctzll(sets);
            behind[j][n].ways = w;
            if (!prof_init(&behind[j][n].l2, (unsigned)__builtin_ctz(line_sizes[j]),
                           NULL, true, levels)) {
                return false;
            }
            n++;
        }
    }
    n_behind[j] = n;
    return true;
}

static bool prof_init(Prof *p, unsigned shift, LineSet *fp, bool dirty,
                      unsigned levels)
{
    uint64_t ntags = ((UINT64_C(1) << levels) - 1) * ways, i;

    p->dirty = dirty ? calloc(ntags, sizeof(uint32_t)) : NULL;
    p->wb = dirty ? calloc((size_t)levels * ways, sizeof(uint64_t)) : NULL;
    if (dirty && (!p->dirty || !p->wb)) {
        fprintf(stderr, "profile: out of memory\n");
        return false;
    }

    /* 64-byte aligned: with 8 ways one set is one host cache line */
    p->tags = aligned_alloc(64, (ntags * sizeof(uint64_t) + 63) & ~(size_t)63);
    p->hist = calloc((size_t)levels * (ways + 1), sizeof(uint64_t));
    p->stop1 = calloc(levels, sizeof(uint64_t));
    if (!p->tags || !p->hist || !p->stop1) {
        fprintf(stderr, "profile: out of memory\n");
        return false;
    }
    for (i = 0; i < ntags; i++) {
        p->tags[i] = INVALID;
    }
    p->accesses = 0;
    p->nlev = levels;
    p->shift = shift;
    p->fp = fp;
    return true;
}

QEMU_PLUGIN_EXPORT
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                        int argc, char **argv)
{
    int i;
    unsigned s, j;
    uint64_t v;
    char *end;

    line_sizes[0] = 16;
    line_sizes[1] = 32;
    line_sizes[2] = 64;
    n_lines = 3;

    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);

        if (!eq) {
            fprintf(stderr, "profile: argument '%s' is not key=value\n", arg);
            return -1;
        }
        if (klen == 3 && strncmp(arg, "out", 3) == 0) {
            if (eq[1] == '\0') {
                fprintf(stderr, "profile: out= needs a path\n");
                return -1;
            }
            free(out_path);
            out_path = strdup(eq + 1);
        } else if (klen == 5 && strncmp(arg, "lines", 5) == 0) {
            if (!parse_lines(eq + 1)) {
                return -1;
            }
        } else if (klen == 8 && strncmp(arg, "max_ways", 8) == 0) {
            if (!parse_u64(eq + 1, &end, &v) || *end || v < 1 ||
                v > MAX_WAYS_LIMIT) {
                fprintf(stderr, "profile: max_ways must be 1..%d\n",
                        MAX_WAYS_LIMIT);
                return -1;
            }
            ways = (unsigned)v;
        } else if (klen == 8 && strncmp(arg, "max_sets", 8) == 0) {
            if (!parse_u64(eq + 1, &end, &v) || *end || !is_pow2(v) ||
                v > MAX_SETS_LIMIT) {
                fprintf(stderr, "profile: max_sets must be a power of two "
                        "in 1..%u\n", MAX_SETS_LIMIT);
                return -1;
            }
            max_sets = v;
        } else if (klen == 12 && strncmp(arg, "behind_ratio", 12) == 0) {
            if (!parse_u64(eq + 1, &end, &v) || *end || !is_pow2(v) || v > 4096) {
                fprintf(stderr, "profile: behind_ratio must be a power of two "
                        "in 1..4096\n");
                return -1;
            }
            behind_ratio = v;
        } else if (klen == 7 && strncmp(arg, "l1d_kib", 7) == 0) {
            if (!parse_l1d_kib(eq + 1)) {
                return -1;
            }
        } else {
            fprintf(stderr, "profile: unknown argument '%s' (known: out, "
                    "lines, max_ways, max_sets, l1d_kib, behind_ratio)\n", arg);
            return -1;
        }
    }

    nlev = (unsigned)__builtin_ctzll(max_sets) + 1;
    min_line = UINT64_MAX;
    for (j = 0; j < n_lines; j++) {
        min_line = line_sizes[j] < min_line ? line_sizes[j] : min_line;
    }
    min_shift = (unsigned)__builtin_ctzll(min_line);
    riscv = info && info->target_name &&
            strncmp(info->target_name, "riscv", 5) == 0;

    for (s = 0; s < ST_N; s++) {
        for (j = 0; j < n_lines; j++) {
            if (!prof_init(&prof[s][j],
                           (unsigned)__builtin_ctz(line_sizes[j]),
                           s < 2 ? &footprint[s][j] : NULL, s == ST_DATA, nlev)) {
                return -1;
            }
        }
    }
    for (j = 0; j < n_lines; j++) {
        if (!behind_init(j)) {
            return -1;
        }
    }

    owner_pid = getpid();
    if (out_path && !report_probe("profile", out_path)) {
        return -1;
    }

    qemu_plugin_register_vcpu_init_cb(id, vcpu_init_cb);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans_cb);
    qemu_plugin_register_atexit_cb(id, atexit_cb, NULL);
    return 0;
}
