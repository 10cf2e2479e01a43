/*
 * cachesim: cyclecast's QEMU TCG plugin (plugin API v1, QEMU 7.2, user mode).
 *
 * Simulates a split L1 (L1I + L1D) in front of a unified L2, all with true
 * LRU replacement and one shared line size:
 *
 *   - every executed guest instruction is one L1I access at its guest
 *     virtual address (the address of its first byte);
 *   - every guest memory operation is one L1D access at its guest virtual
 *     address (accesses that cross a line are NOT split);
 *   - L1D is write-back / write-allocate: a store marks its line dirty (also
 *     on a store miss, after the fill); evicting a dirty L1D line writes it
 *     back to L2;
 *   - L2 is accessed on every L1I miss, every L1D miss (the fill) and every
 *     L1D write-back. On an L1D miss the fill is done first, then the dirty
 *     victim (if any) is written back. A write-back that misses in L2
 *     allocates the line there (write-allocate) and marks it dirty; evicting
 *     a dirty L2 line counts one L2 write-back to memory.
 *   - The hierarchy is non-inclusive/non-exclusive: L2 evictions never
 *     invalidate L1 lines. Dirty lines still cached at exit are not flushed
 *     (they are not counted as write-backs).
 *
 * Arguments (all required except out):
 *   l1i_size, l1i_ways, l1d_size, l1d_ways, l2_size, l2_ways  (bytes / ways)
 *   line    (bytes, power of two, 4..1 MiB, shared by all three caches)
 *   out=PATH  JSON result file (default: stderr)
 * size / (ways * line) must be a power of two number of sets (>= 1);
 * ways 1..64; size <= 4 GiB.
 * Invalid arguments make qemu_plugin_install() fail, so QEMU exits non-zero.
 *
 * At exit one JSON object with these integer keys is written atomically
 * (tmp file + rename) to out: instructions, l1i_accesses, l1i_misses,
 * l1d_accesses, l1d_misses, l1d_writebacks, l2_accesses, l2_misses,
 * l2_writebacks, loads, stores.
 *
 * Speed notes:
 *   - instructions are counted with one inline add per translation block;
 *   - the I-cache is not simulated per instruction: at translation time the
 *     instructions of a TB are grouped into runs of consecutive instructions
 *     whose addresses fall into the same cache line, and one callback on the
 *     first instruction of each run accesses that line once and adds the run
 *     length to l1i_accesses. Under LRU the 2nd..nth access of a run to the
 *     same line would be hits that leave the cache state unchanged, so the
 *     counts are identical to per-instruction simulation (the only exception
 *     would be a TB left in the middle of a run by a guest fault);
 *   - memory operations use one lean callback (QEMU_PLUGIN_CB_NO_REGS,
 *     registered for QEMU_PLUGIN_MEM_RW exactly like QEMU's contrib cache
 *     plugin); the common MRU hit is a single compare. Loads and stores are
 *     told apart with qemu_plugin_mem_is_store(). Registering separate
 *     callbacks for QEMU_PLUGIN_MEM_R and QEMU_PLUGIN_MEM_W does NOT work in
 *     QEMU 7.2 user mode: measured, an R-only callback fires for stores only
 *     and a W-only callback fires for loads and stores.
 *
 * Threads: the model is one shared hierarchy. While the guest has a single
 * vCPU (thread) no locking is done. As soon as a second vCPU is initialised
 * (the vcpu_init callback runs in the parent thread during clone(), before
 * the new thread executes guest code) all cache accesses are serialised by a
 * mutex. The inline per-TB instruction counter is not atomic, so once the
 * guest has several threads "instructions" is reported from the (locked)
 * L1I access count instead, which counts the same thing.
 * Only the process that loaded the plugin writes the JSON file (a forked
 * guest child does not overwrite it).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
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

/*
 * Set layout: word 0 is the set's dirty bitmask (bit i = way i is dirty),
 * words 1..nways are the line numbers (address >> line_shift) of the ways,
 * ordered MRU..LRU, followed by INVALID padding up to a multiple of 4 ways
 * (for the unrolled scan). INVALID never equals a line number. Keeping the
 * dirty bits out of the tags lets the lookups use plain equality compares.
 */
#define INVALID UINT64_MAX
#define MAX_WAYS 64
#define MAX_SIZE (UINT64_C(1) << 32)   /* bytes per cache */

typedef struct {
    uint64_t *sets;     /* nsets * stride words */
    uint64_t set_mask;  /* nsets - 1 */
    uint64_t stride;    /* 1 + nways rounded up to a multiple of 4 */
    uint64_t ways_mask; /* low nways bits set */
    uint32_t nways;
    uint64_t accesses;
    uint64_t misses;
} Cache;

static Cache l1i, l1d, l2;
static unsigned line_shift;
static uint64_t line_bytes;

static uint64_t n_insns;        /* inline per-TB adds */
static uint64_t n_mem, n_stores;
static uint64_t l1d_writebacks, l2_writebacks;

static volatile bool multi_vcpu;
static unsigned n_vcpus_seen;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static char *out_path;
static pid_t owner_pid;

/* ------------------------------------------------------------------ */
/* cache model                                                          */

/*
 * Looks up `line` in its set. On a hit the entry moves to the MRU position
 * (its dirty bit moving with it) and gets `dirty` or'ed in; returns true.
 * On a miss the LRU entry (or an invalid one: invalid entries always sit at
 * the LRU end because nothing is ever invalidated) is dropped, the new line
 * is inserted at MRU with `dirty`, and *victim_dirty tells whether the
 * dropped entry was a valid dirty line (its line number goes to *victim).
 */
static inline bool cache_lookup(Cache *c, uint64_t line, uint64_t dirty,
                                uint64_t *victim, bool *victim_dirty)
{
    uint64_t *set = c->sets + (line & c->set_mask) * c->stride;
    uint64_t *t = set + 1;
    uint64_t d = set[0];
    uint32_t n = c->nways;
    uint32_t i;

    if (likely(t[0] == line)) {
        set[0] = d | dirty;
        return true;
    }
    /*
     * Scan four ways per step with one branch (the tag array is padded with
     * INVALID up to a multiple of 4 ways); then find the exact way.
     */
    for (i = 0; i < n; i += 4) {
        if (unlikely((t[i] == line) | (t[i + 1] == line) |
                     (t[i + 2] == line) | (t[i + 3] == line))) {
            while (t[i] != line) {
                i++;
            }
            uint64_t below = d & ((UINT64_C(1) << i) - 1);
            uint64_t above = d & ~((UINT64_C(2) << i) - 1);
            uint64_t me = (d >> i) & 1;

            memmove(t + 1, t, (size_t)i * sizeof(*t));
            t[0] = line;
            set[0] = above | (below << 1) | me | dirty;
            return true;
        }
    }
    *victim = t[n - 1];
    *victim_dirty = (d >> (n - 1)) & 1;     /* invalid ways are never dirty */
    memmove(t + 1, t, (size_t)(n - 1) * sizeof(*t));
    t[0] = line;
    set[0] = ((d << 1) & c->ways_mask) | dirty;
    return false;
}

static void l2_access(uint64_t line, uint64_t dirty)
{
    uint64_t victim;
    bool victim_dirty;

    l2.accesses++;
    if (!cache_lookup(&l2, line, dirty, &victim, &victim_dirty)) {
        l2.misses++;
        l2_writebacks += victim_dirty;
    }
}

static __attribute__((noinline)) void l1d_slow(uint64_t line, uint64_t dirty)
{
    uint64_t victim;
    bool victim_dirty;

    if (cache_lookup(&l1d, line, dirty, &victim, &victim_dirty)) {
        return;
    }
    l1d.misses++;
    l2_access(line, 0);                     /* fill */
    if (victim_dirty) {
        l1d_writebacks++;
        l2_access(victim, 1);               /* write-back of the victim */
    }
}

static __attribute__((noinline)) void l1i_slow(uint64_t line)
{
    uint64_t victim;
    bool victim_dirty;

    if (cache_lookup(&l1i, line, 0, &victim, &victim_dirty)) {
        return;
    }
    l1i.misses++;
    l2_access(line, 0);
}

static inline void l1d_access(uint64_t vaddr, uint64_t dirty)
{
    uint64_t line = vaddr >> line_shift;
    uint64_t *set = l1d.sets + (line & l1d.set_mask) * l1d.stride;

    if (likely(set[1] == line)) {
        if (dirty) {
            set[0] |= 1;
        }
        return;
    }
    l1d_slow(line, dirty);
}

/* ------------------------------------------------------------------ */
/* callbacks                                                            */

static void mem_cb(unsigned int vcpu, qemu_plugin_meminfo_t info,
                   uint64_t vaddr, void *ud)
{
    uint64_t is_store = qemu_plugin_mem_is_store(info) ? 1 : 0;

    if (unlikely(multi_vcpu)) {
        pthread_mutex_lock(&lock);
        n_stores += is_store;
        n_mem++;
        l1d_access(vaddr, is_store);
        pthread_mutex_unlock(&lock);
        return;
    }
    n_stores += is_store;
    n_mem++;
    l1d_access(vaddr, is_store);
}

/*
 * userdata packs a run: (line base address) | (number of instructions in the
 * run). The count is < line_bytes (at most line_bytes/2 instructions of >= 2
 * bytes start in one line, and runs are capped at line_bytes - 1 anyway).
 */
static inline void irun_access(uintptr_t run)
{
    uint64_t line = (uint64_t)run >> line_shift;
    uint64_t *set = l1i.sets + (line & l1i.set_mask) * l1i.stride;

    l1i.accesses += run & (line_bytes - 1);
    if (likely(set[1] == line)) {
        return;
    }
    l1i_slow(line);
}

static void irun_cb(unsigned int vcpu, void *ud)
{
    if (unlikely(multi_vcpu)) {
        pthread_mutex_lock(&lock);
        irun_access((uintptr_t)ud);
        pthread_mutex_unlock(&lock);
        return;
    }
    irun_access((uintptr_t)ud);
}

static void tb_trans_cb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    size_t i;
    struct qemu_plugin_insn *run_head = NULL;
    uint64_t run_line = 0, run_len = 0;

    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
                                             &n_insns, n);

    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t line = qemu_plugin_insn_vaddr(insn) >> line_shift;

        if (run_head == NULL || line != run_line || run_len == line_bytes - 1) {
            if (run_head) {
                qemu_plugin_register_vcpu_insn_exec_cb(
                    run_head, irun_cb, QEMU_PLUGIN_CB_NO_REGS,
                    (void *)(uintptr_t)((run_line << line_shift) | run_len));
            }
            run_head = insn;
            run_line = line;
            run_len = 0;
        }
        run_len++;

        /* One callback for loads and stores (see the header comment). */
        qemu_plugin_register_vcpu_mem_cb(insn, mem_cb, QEMU_PLUGIN_CB_NO_REGS,
                                         QEMU_PLUGIN_MEM_RW, NULL);
    }
    if (run_head) {
        qemu_plugin_register_vcpu_insn_exec_cb(
            run_head, irun_cb, QEMU_PLUGIN_CB_NO_REGS,
            (void *)(uintptr_t)((run_line << line_shift) | run_len));
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

static bool write_json(FILE *f)
{
    return 0 < fprintf(f,
        "{\"instructions\": %" PRIu64 ", \"l1i_accesses\": %" PRIu64
        ", \"l1i_misses\": %" PRIu64 ", \"l1d_accesses\": %" PRIu64
        ", \"l1d_misses\": %" PRIu64 ", \"l1d_writebacks\": %" PRIu64
        ", \"l2_accesses\": %" PRIu64 ", \"l2_misses\": %" PRIu64
        ", \"l2_writebacks\": %" PRIu64 ", \"loads\": %" PRIu64
        ", \"stores\": %" PRIu64 "}\n",
        multi_vcpu ? l1i.accesses : n_insns,
        l1i.accesses, l1i.misses, n_mem, l1d.misses,
        l1d_writebacks, l2.accesses, l2.misses, l2_writebacks,
        n_mem - n_stores, n_stores);
}

static void atexit_cb(qemu_plugin_id_t id, void *p)
{
    pthread_mutex_lock(&lock);
    report_write("cachesim", out_path, owner_pid, write_json);
    pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------------------------ */
/* argument parsing                                                     */

static bool parse_u64(const char *s, uint64_t *v)
{
    char *end;
    unsigned long long x;

    if (!s || *s < '0' || *s > '9') {
        return false;
    }
    errno = 0;
    x = strtoull(s, &end, 10);
    if (errno || *end != '\0') {
        return false;
    }
    *v = x;
    return true;
}

static bool is_pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

static bool cache_init(Cache *c, const char *name, uint64_t size,
                       uint64_t ways)
{
    uint64_t sets, i;

    if (size == 0 || ways == 0) {
        fprintf(stderr, "cachesim: %s: size and ways must be > 0\n", name);
        return false;
    }
    if (size > MAX_SIZE) {
        fprintf(stderr, "cachesim: %s: size %" PRIu64 " is larger than the "
                "supported maximum %" PRIu64 "\n", name, size, MAX_SIZE);
        return false;
    }
    if (ways > MAX_WAYS) {
        fprintf(stderr, "cachesim: %s: at most %d ways are supported (got %"
                PRIu64 ")\n", name, MAX_WAYS, ways);
        return false;
    }
    if (size % (ways * line_bytes) != 0) {
        fprintf(stderr, "cachesim: %s: size %" PRIu64 " is not a multiple of"
                " ways * line = %" PRIu64 "\n", name, size, ways * line_bytes);
        return false;
    }
    sets = size / (ways * line_bytes);
    if (!is_pow2(sets)) {
        fprintf(stderr, "cachesim: %s: number of sets %" PRIu64 " (size %"
                PRIu64 " / (%" PRIu64 " ways * %" PRIu64 " B)) is not a power"
                " of two\n", name, sets, size, ways, line_bytes);
        return false;
    }
    c->stride = 1 + ((ways + 3) & ~UINT64_C(3));
    c->sets = malloc(sets * c->stride * sizeof(uint64_t));
    if (!c->sets) {
        fprintf(stderr, "cachesim: %s: out of memory\n", name);
        return false;
    }
    for (i = 0; i < sets * c->stride; i++) {
        c->sets[i] = (i % c->stride) ? INVALID : 0;
    }
    c->set_mask = sets - 1;
    c->nways = (uint32_t)ways;
    c->ways_mask = ways == 64 ? UINT64_MAX : (UINT64_C(1) << ways) - 1;
    c->accesses = c->misses = 0;
    return true;
}

enum { A_L1I_SIZE, A_L1I_WAYS, A_L1D_SIZE, A_L1D_WAYS, A_L2_SIZE, A_L2_WAYS,
       A_LINE, A_N };
static const char *const arg_names[A_N] = {
    "l1i_size", "l1i_ways", "l1d_size", "l1d_ways", "l2_size", "l2_ways",
    "line",
};

QEMU_PLUGIN_EXPORT
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                        int argc, char **argv)
{
    uint64_t val[A_N];
    bool have[A_N] = { false };
    int i, k;

    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);

        if (!eq) {
            fprintf(stderr, "cachesim: argument '%s' is not key=value\n", arg);
            return -1;
        }
        if (klen == 3 && strncmp(arg, "out", 3) == 0) {
            if (eq[1] == '\0') {
                fprintf(stderr, "cachesim: out= needs a path\n");
                return -1;
            }
            free(out_path);
            out_path = strdup(eq + 1);
            continue;
        }
        for (k = 0; k < A_N; k++) {
            if (strlen(arg_names[k]) == klen &&
                strncmp(arg, arg_names[k], klen) == 0) {
                break;
            }
        }
        if (k == A_N) {
            fprintf(stderr, "cachesim: unknown argument '%s'\n", arg);
            return -1;
        }
        if (!parse_u64(eq + 1, &val[k])) {
            fprintf(stderr, "cachesim: %s: '%s' is not a non-negative decimal"
                    " integer\n", arg_names[k], eq + 1);
            return -1;
        }
        have[k] = true;
    }
    for (k = 0; k < A_N; k++) {
        if (!have[k]) {
            fprintf(stderr, "cachesim: missing argument %s=N (required: "
                    "l1i_size l1i_ways l1d_size l1d_ways l2_size l2_ways "
                    "line; optional: out=PATH)\n", arg_names[k]);
            return -1;
        }
    }

    line_bytes = val[A_LINE];
    if (!is_pow2(line_bytes) || line_bytes < 4 || line_bytes > (1u << 20)) {
        fprintf(stderr, "cachesim: line=%" PRIu64 " must be a power of two "
                "between 4 and 1048576\n", line_bytes);
        return -1;
    }
    line_shift = (unsigned)__builtin_ctzll(line_bytes);

    if (!cache_init(&l1i, "l1i", val[A_L1I_SIZE], val[A_L1I_WAYS]) ||
        !cache_init(&l1d, "l1d", val[A_L1D_SIZE], val[A_L1D_WAYS]) ||
        !cache_init(&l2, "l2", val[A_L2_SIZE], val[A_L2_WAYS])) {
        return -1;
    }

    owner_pid = getpid();
    if (out_path && !report_probe("cachesim", out_path)) {
        return -1;
    }

    qemu_plugin_register_vcpu_init_cb(id, vcpu_init_cb);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans_cb);
    qemu_plugin_register_atexit_cb(id, atexit_cb, NULL);
    return 0;
}
