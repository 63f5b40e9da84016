/*
 * The compiled trace core (ADR 0008): the per-record hot path of the SPEC §2 parser in C.
 *
 * A Scanner takes decompressed NDJSON chunk by chunk. For each line it either *accepts* it
 * (a record whose every rule it can prove: strict JSON of the record shape, no duplicate or
 * unknown key, no escape, UTF-8, RFC 3339 timestamp in range, count and pid bounds, symbol id
 * lengths) and aggregates it, keyed on the raw bytes of (symbol_id, purl, container) and of
 * (caller_symbol_id, symbol_id); or it *defers* it: the line goes back to Python, whose
 * careful parser names the problem (or accepts an odd but valid line and adds it here).
 * Purls are checked by Python once per distinct value: lines whose purl is new wait in a
 * pending list until `settle` gives the verdicts. Only distinct strings and keys are kept,
 * plus one partial line: memory grows with distinct keys only. The scan runs without the GIL.
 *
 * Nothing here decides a diagnostic's text: that stays in Python, the oracle.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr */
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

typedef unsigned __int128 u128;

/* Code whose comparisons say nothing about the input (hash mixing, buffer sizing, word
 * loops, hash tables, events, the bookkeeping around each chunk, the fuzz driver's own loop;
 * not the parsing, the carried line, the lanes or the limits): left out of the fuzz build's
 * coverage and comparison tracing (libFuzzer's -fsanitize=fuzzer-no-link), which otherwise
 * calls a hook at each of their comparisons. They stay under ASan and UBSan. No effect on
 * other builds. */
#if defined(__clang__) && __clang_major__ >= 13
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

#include "../_cshared.h" /* advise_huge, skip_ws, utf8_ok, pure_python_forced */

/* The fuzz driver's pieces (see fuzz_scan) live in one arena whose bytes are poisoned for
 * AddressSanitizer except the piece being scanned: as guarded as a malloc per piece (a read
 * before or past it, or of an earlier piece, is reported), without an allocation each. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CTRACE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CTRACE_ASAN 1
#endif
#ifdef CTRACE_ASAN
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define POISON(p, n) __asan_poison_memory_region((p), (n))
#define UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

enum {
    F_SYMBOL, F_PURL, F_TS, F_COUNT, F_PID, F_CONTAINER, F_CODE, F_BUILD, F_LOADER,
    F_PROCESS, F_CALLER, NF
};
#define REQUIRED ((1u << F_SYMBOL) | (1u << F_PURL) | (1u << F_TS) | (1u << F_COUNT))
#define IS_INT(f) ((f) == F_COUNT || (f) == F_PID)
#define NONE_ID UINT32_MAX
#define MAX_COUNT ((1ULL << 53) - 1)
#define MAX_PID ((uint64_t)INT64_MAX)

enum { EV_DEFER = 0, EV_OVERLONG = 1, EV_MISSING = 2 };
enum { PURL_UNKNOWN = 0, PURL_GOOD = 1, PURL_BAD = 2 };

typedef struct {
    uint64_t hash;
    size_t off;
    uint32_t len;
    uint8_t purl;      /* PURL_* */
    uint8_t listed;    /* handed to Python for a verdict already */
    uint32_t code;     /* string id of this symbol's first code_id, or NONE_ID */
    int64_t code_line; /* the line it came from */
} Str;

/* One (symbol_id, purl, container) in the tally arena, followed by its key's bytes (symbol
 * id, purl, container, back to back; padded to TALLY_ALIGN): a record whose key is known
 * is found with one probe of the key table and one look at a few adjacent cache lines,
 * without interning its strings. 64 bytes. */
typedef struct {
    uint64_t hash;
    uint32_t sym, purl, cont;  /* string ids (cont: NONE_ID when absent) */
    uint32_t slen, plen, clen; /* the key's lengths */
    u128 count;
    int64_t first, last;
} Tally;
#define TALLY_ALIGN 16

typedef struct {
    uint32_t caller, callee;
    u128 count;
} Edge;

typedef struct {
    int64_t line;
    int kind;
    int flags;
    const char *p; /* EV_DEFER: the line's bytes (in the held chunk or a line buffer) */
    size_t n;
} Event;

typedef struct {
    int64_t line;
    uint32_t sym, purl, cont, caller, code;
    uint64_t count;
    int64_t micros;
    int missing;
    const char *p;
    size_t n;
} Pending;

typedef struct {
    char *p;
    size_t len, cap;
} Buf;

typedef struct Scanner Scanner;

struct Scanner {
    PyObject_HEAD
    size_t max_line;
    size_t max_sym;
    int64_t max_records;
    int64_t max_edges;
    uint64_t seed;
    uint64_t key[3]; /* hash_bytes' secrets, derived from the seed (`derive_key`) */

    int64_t lines;
    int64_t records;
    int nonblank;
    int skipping;
    int busy;
    int nomem;

    Buf carry;            /* the partial last line of the chunks so far */
    Buf joined[2];        /* a line split across chunks, put together (two: see feed) */
    int joined_next;

    Buf arena;            /* the bytes of every distinct string */
    Str *strs;
    uint32_t nstrs, cap_strs;
    uint64_t *stab; /* slots: hash tag (high 32 bits) | 1 + index; 0 empty */
    size_t stab_mask;

    Buf tarena;     /* the tallies, each followed by its key bytes (see Tally) */
    uint32_t ntallies;
    uint64_t *ktab; /* slots: hash tag (high 32 bits) | 1 + offset / TALLY_ALIGN; 0 empty */
    size_t ktab_mask;

    Edge *edges;
    uint32_t nedges, cap_edges;
    uint64_t *etab;
    size_t etab_mask;

    Event *events;
    size_t nevents, cap_events;
    Pending *pending;
    size_t npending, cap_pending;
    uint32_t *newpurls;
    size_t nnewpurls, cap_newpurls;

    PyObject *chunk; /* the chunk events and pending lines point into, until settle */
    PyObject **strobj;
    uint32_t nstrobj;
    uint32_t last[NF]; /* per field, the id of the string the previous record had */
    /* settle(): missing-field events to hand over (-1: all); past it, only counted */
    long long missing_budget;
    long long suppressed; /* warnings counted, not handed over (see missing_budget) */
    /* The second lane: a plain C Scanner (never seen by Python: no PyObject parts used)
     * that scans the second half of a big chunk on another thread, with tables of its own,
     * merged into this one (merge_lane) before anything needs the whole (see do_region). */
    Scanner *lane;
    int is_lane;
    size_t split_min; /* complete lines of at least this many bytes are split in two lanes */
    uint32_t lane_max_keys; /* past this many tallies here, one lane again (see do_region) */
    int in_turn;      /* the lanes scan one after the other, on this thread (the fuzz driver) */
    int use_worker;   /* the second lane runs on the fuzz driver's long-lived thread */
    /* result() was taken: the tables are released (see Scanner_result); summary() answers
     * from what it kept, every other method refuses. */
    int spent;
    long long kept_symbols;
    int64_t kept_first, kept_last;
};
/* Below this, a second thread costs more than it saves. */
#define SPLIT_MIN_DEFAULT ((size_t)256 << 10)
/* Past this many distinct keys the second lane is merged and not used again: each lane keeps
 * a copy of every key it meets (tally, key bytes, strings, tables: about 300 bytes a key), so
 * on a trace of many keys two lanes held twice the tables (a 160,000-key trace: 40 MiB more
 * at the peak of a 10 M-record ingest, issue 19) and spent the time saved on merging them
 * (measured slower than one lane). 16,384 keys: a lane of a few MiB at most. */
#define LANE_MAX_KEYS_DEFAULT (1u << 14)

/* ---------------------------------------------------------------------------------------- */
/* memory: plain malloc (callable without the GIL); a failure sets nomem                     */

NO_COVERAGE static int grow(void **p, size_t *cap, size_t need, size_t item) {
    if (need <= *cap) return 1;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > (SIZE_MAX / 2) / item) return 0;
        n *= 2;
    }
    void *q = realloc(*p, n * item);
    if (!q) return 0;
    advise_huge(q, n * item);
    *p = q;
    *cap = n;
    return 1;
}

#define GROW(s, arr, count, cap, need)                                                    \
    do {                                                                                \
        size_t _c = (cap);                                                              \
        if (!grow((void **)&(arr), &_c, (need), sizeof(*(arr)))) {                      \
            (s)->nomem = 1;                                                             \
            return 0;                                                                   \
        }                                                                               \
        (cap) = _c;                                                                     \
    } while (0)

NO_COVERAGE static int buf_set(Scanner *s, Buf *b, const char *p, size_t n) {
    size_t cap = b->cap;
    if (!grow((void **)&b->p, &cap, n ? n : 1, 1)) {
        s->nomem = 1;
        return 0;
    }
    b->cap = cap;
    if (n) memmove(b->p, p, n);
    b->len = n;
    return 1;
}

NO_COVERAGE static int buf_append(Scanner *s, Buf *b, const char *p, size_t n) {
    size_t cap = b->cap;
    /* at least one byte: b->p is never NULL once used (no arithmetic on NULL) */
    if (!grow((void **)&b->p, &cap, b->len + n ? b->len + n : 1, 1)) {
        s->nomem = 1;
        return 0;
    }
    b->cap = cap;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* hashing: keyed by a random seed per scanner                                               */

/* Public constants that keep key_hash's three strings apart (the secrets are the scanner's). */
#define K1 0xa0761d6478bd642fULL
#define K2 0xe7037ed1a0b428dbULL
#define K3 0x8ebc6af09c88c6e3ULL

/* p[0:n] == q[0:n], a word at a time (n is short: a symbol id, a purl, a container). */
NO_COVERAGE static inline int same_bytes(const char *p, const char *q, size_t n) {
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 < n; i += 8)
            if (read8(p + i) != read8(q + i)) return 0;
        return read8(p + n - 8) == read8(q + n - 8);
    }
    if (n >= 4) return read4(p) == read4(q) && read4(p + n - 4) == read4(q + n - 4);
    for (size_t i = 0; i < n; i++)
        if (p[i] != q[i]) return 0;
    return 1;
}

NO_COVERAGE static inline uint64_t hash3(uint64_t seed, uint32_t a, uint32_t b, uint32_t c) {
    return mix64(seed ^ mix64(((uint64_t)a << 32 | b) ^ mix64((uint64_t)c + 0x9E3779B97F4A7C15ULL)));
}

/* ---------------------------------------------------------------------------------------- */
/* tables                                                                                    */

#define TAG(h) ((h) & 0xFFFFFFFF00000000ULL)

NO_COVERAGE static int rehash(uint64_t **tab, size_t *mask, size_t want, void *items, uint32_t count,
                  uint64_t (*hash_of)(Scanner *, void *, uint32_t), Scanner *s) {
    size_t size = 16;
    while (size < want * 2) size *= 2;
    uint64_t *t = calloc(size, sizeof(uint64_t));
    if (!t) {
        s->nomem = 1;
        return 0;
    }
    advise_huge(t, size * sizeof(uint64_t));
    for (uint32_t i = 0; i < count; i++) {
        uint64_t h = hash_of(s, items, i);
        size_t j = h & (size - 1);
        while (t[j]) j = (j + 1) & (size - 1);
        t[j] = TAG(h) | (i + 1);
    }
    free(*tab);
    *tab = t;
    *mask = size - 1;
    return 1;
}

static uint64_t str_hash_of(Scanner *s, void *items, uint32_t i) {
    (void)s;
    return ((Str *)items)[i].hash;
}

static uint64_t edge_hash_of(Scanner *s, void *items, uint32_t i) {
    Edge *e = &((Edge *)items)[i];
    return hash3(s->seed ^ 0x5bd1e995ULL, e->caller, e->callee, 0);
}

/* The id of the string p[0:n], added if new; NONE_ID when memory ran out. */
NO_COVERAGE static uint32_t intern(Scanner *s, const char *p, size_t n) {
    uint64_t h = hash_bytes(s->key, p, n, s->seed);
    if (s->stab) {
        size_t j = h & s->stab_mask;
        uint64_t v;
        while ((v = s->stab[j])) {
            if (TAG(v) == TAG(h)) { /* only then touch the entry: fewer cache misses */
                uint32_t k = (uint32_t)v;
                Str *e = &s->strs[k - 1];
                if (e->hash == h && e->len == n && same_bytes(s->arena.p + e->off, p, n))
                    return k - 1;
            }
            j = (j + 1) & s->stab_mask;
        }
    }
    if (s->nstrs >= UINT32_MAX - 2) {
        s->nomem = 1;
        return NONE_ID;
    }
    if (!s->stab || (size_t)(s->nstrs + 1) * 2 > s->stab_mask + 1) {
        if (!rehash(&s->stab, &s->stab_mask, s->nstrs + 1, s->strs, s->nstrs, str_hash_of, s))
            return NONE_ID;
    }
    size_t cap = s->cap_strs;
    if (!grow((void **)&s->strs, &cap, s->nstrs + 1, sizeof(Str))) {
        s->nomem = 1;
        return NONE_ID;
    }
    s->cap_strs = (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap);
    size_t off = s->arena.len;
    if (!buf_append(s, &s->arena, p, n)) return NONE_ID;
    Str *e = &s->strs[s->nstrs];
    e->hash = h;
    e->off = off;
    e->len = (uint32_t)n;
    e->purl = PURL_UNKNOWN;
    e->listed = 0;
    e->code = NONE_ID;
    e->code_line = 0;
    size_t j = h & s->stab_mask;
    while (s->stab[j]) j = (j + 1) & s->stab_mask;
    s->stab[j] = TAG(h) | (s->nstrs + 1);
    return s->nstrs++;
}

/* The id of p[0:n] as field f; the previous record's value is tried first (cache-hot). */
static inline uint32_t intern_field(Scanner *s, int f, const char *p, size_t n) {
    uint32_t id = s->last[f];
    if (id < s->nstrs) {
        Str *e = &s->strs[id];
        if (e->len == n && same_bytes(s->arena.p + e->off, p, n)) return id;
    }
    id = intern(s, p, n);
    s->last[f] = id;
    return id;
}

static inline void tally_add(Tally *t, uint64_t count, int64_t micros) {
    t->count += count;
    if (micros < t->first) t->first = micros;
    else if (micros > t->last) t->last = micros;
}

#define MAX_TALLIES (1u << 30)

/* The hash of a tally key (cont NULL: no container; "" is a container). */
NO_COVERAGE static inline uint64_t key_hash(Scanner *s, const char *sp, size_t sn, const char *pp,
                                            size_t pn, const char *cp, size_t cn) {
    uint64_t c = cp ? hash_bytes(s->key, cp, cn, s->seed ^ K3) : K2;
    uint64_t b = hash_bytes(s->key, pp, pn, s->seed ^ K2);
    return mum(hash_bytes(s->key, sp, sn, s->seed) ^ c, b ^ K1);
}

static inline size_t tally_size(const Tally *t) {
    size_t n = sizeof(Tally) + t->slen + t->plen + t->clen;
    return (n + TALLY_ALIGN - 1) & ~(size_t)(TALLY_ALIGN - 1);
}

static inline Tally *tally_at(Scanner *s, uint64_t slot) {
    return (Tally *)(void *)(s->tarena.p + ((size_t)(uint32_t)slot - 1) * TALLY_ALIGN);
}

/* The tally of the key, or NULL. */
NO_COVERAGE static Tally *tally_find(Scanner *s, uint64_t h, const char *sp, size_t sn, const char *pp,
                         size_t pn, const char *cp, size_t cn) {
    if (!s->ktab) return NULL;
    size_t j = h & s->ktab_mask;
    uint64_t v;
    while ((v = s->ktab[j])) {
        if (TAG(v) == TAG(h)) { /* only then touch the tally: fewer cache misses */
            Tally *t = tally_at(s, v);
            if (t->hash == h && t->slen == sn && t->plen == pn && t->clen == cn &&
                (t->cont == NONE_ID) == (cp == NULL)) {
                const char *k = (const char *)(t + 1);
                if (same_bytes(k, sp, sn) && same_bytes(k + sn, pp, pn) &&
                    same_bytes(k + sn + pn, cp, cn))
                    return t;
            }
        }
        j = (j + 1) & s->ktab_mask;
    }
    return NULL;
}

NO_COVERAGE static int ktab_grow(Scanner *s) {
    size_t size = s->ktab ? (s->ktab_mask + 1) * 2 : 64;
    uint64_t *t = calloc(size, sizeof(uint64_t));
    if (!t) {
        s->nomem = 1;
        return 0;
    }
    advise_huge(t, size * sizeof(uint64_t));
    for (size_t off = 0; off < s->tarena.len;) {
        Tally *o = (Tally *)(void *)(s->tarena.p + off);
        size_t j = o->hash & (size - 1);
        while (t[j]) j = (j + 1) & (size - 1);
        t[j] = TAG(o->hash) | (off / TALLY_ALIGN + 1);
        off += tally_size(o);
    }
    free(s->ktab);
    s->ktab = t;
    s->ktab_mask = size - 1;
    return 1;
}

/* The tally arena: on Linux (not under ASan, whose checks need malloc's blocks) mapped on its
 * own and grown with mremap, which moves page tables instead of copying: a realloc that fell
 * back to malloc + copy put both the old and the new arena in memory at once (a 32 MiB spike
 * at the peak of a 10 M-record ingest, issue 19). Freeing it gives its pages back whatever the
 * allocator's thresholds. 0 when memory ran out. */
#if defined(__linux__) && defined(MREMAP_MAYMOVE) && !defined(CTRACE_ASAN)
#define TARENA_MAPPED 1
#endif

NO_COVERAGE static int tarena_grow(Buf *b, size_t need) {
#ifdef TARENA_MAPPED
    if (need <= b->cap) return 1;
    size_t n = b->cap ? b->cap : ((size_t)64 << 10);
    while (n < need) {
        if (n > SIZE_MAX / 2) return 0;
        n *= 2;
    }
    void *q = b->p ? mremap(b->p, b->cap, n, MREMAP_MAYMOVE) : MAP_FAILED;
    if (q == MAP_FAILED) { /* the first time; or the old mapping cannot move: copy it */
        q = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (q == MAP_FAILED) return 0;
        if (b->p) {
            memcpy(q, b->p, b->len);
            (void)munmap(b->p, b->cap);
        }
    }
#ifdef MADV_HUGEPAGE
    /* The whole mapping, not its huge-page-aligned middle (advise_huge): a part would split
     * it in several areas, which mremap refuses to move (EFAULT). */
    if (n >= 2 * HUGE_PAGE) (void)madvise(q, n, MADV_HUGEPAGE);
#endif
    b->p = q;
    b->cap = n;
    return 1;
#else
    size_t cap = b->cap;
    if (!grow((void **)&b->p, &cap, need, 1)) return 0;
    b->cap = cap;
    return 1;
#endif
}

NO_COVERAGE static void tarena_free(Buf *b) {
#ifdef TARENA_MAPPED
    if (b->p) (void)munmap(b->p, b->cap);
#else
    free(b->p);
#endif
    memset(b, 0, sizeof(Buf));
}

/* A new tally for the key (not in the table), count 0, first = last = micros; NULL when
 * memory ran out. The key's bytes must not lie in the tally arena (they are copied in). */
NO_COVERAGE static Tally *tally_new(Scanner *s, uint64_t h, uint32_t sym, uint32_t purl, uint32_t cont,
                        const char *sp, size_t sn, const char *pp, size_t pn, const char *cp,
                        size_t cn, int64_t micros) {
    if (s->ntallies >= MAX_TALLIES || sn + pn + cn > UINT32_MAX / 2) {
        s->nomem = 1;
        return NULL;
    }
    if (!s->ktab || (size_t)(s->ntallies + 1) * 2 > s->ktab_mask + 1) {
        if (!ktab_grow(s)) return NULL;
    }
    Tally head;
    memset(&head, 0, sizeof head);
    head.hash = h;
    head.sym = sym;
    head.purl = purl;
    head.cont = cont;
    head.slen = (uint32_t)sn;
    head.plen = (uint32_t)pn;
    head.clen = (uint32_t)cn;
    head.first = head.last = micros;
    size_t off = s->tarena.len, size = tally_size(&head);
    if (off / TALLY_ALIGN + 1 >= UINT32_MAX) {
        s->nomem = 1;
        return NULL;
    }
    if (!tarena_grow(&s->tarena, off + size)) {
        s->nomem = 1;
        return NULL;
    }
    char *at = s->tarena.p + off;
    memset(at, 0, size);
    memcpy(at, &head, sizeof head);
    char *k = at + sizeof head;
    memcpy(k, sp, sn);
    if (pn) memcpy(k + sn, pp, pn);
    if (cn) memcpy(k + sn + pn, cp, cn);
    s->tarena.len = off + size;
    size_t j = h & s->ktab_mask;
    while (s->ktab[j]) j = (j + 1) & s->ktab_mask;
    s->ktab[j] = TAG(h) | (off / TALLY_ALIGN + 1);
    s->ntallies++;
    return (Tally *)(void *)at;
}

NO_COVERAGE static int add_edge_count(Scanner *s, uint32_t caller, uint32_t callee, u128 count) {
    uint64_t h = hash3(s->seed ^ 0x5bd1e995ULL, caller, callee, 0);
    if (s->etab) {
        size_t j = h & s->etab_mask;
        uint64_t v;
        while ((v = s->etab[j])) {
            if (TAG(v) == TAG(h)) {
                Edge *e = &s->edges[(uint32_t)v - 1];
                if (e->caller == caller && e->callee == callee) {
                    e->count += count;
                    return 1;
                }
            }
            j = (j + 1) & s->etab_mask;
        }
    }
    if ((int64_t)s->nedges >= s->max_edges) {
        /* One past the limit is enough for Python to raise; never more. */
        if ((int64_t)s->nedges > s->max_edges) return 1;
    }
    if (s->nedges >= UINT32_MAX - 2) {
        s->nomem = 1;
        return 0;
    }
    if (!s->etab || (size_t)(s->nedges + 1) * 2 > s->etab_mask + 1) {
        if (!rehash(&s->etab, &s->etab_mask, s->nedges + 1, s->edges, s->nedges, edge_hash_of,
                    s))
            return 0;
    }
    size_t cap = s->cap_edges;
    if (!grow((void **)&s->edges, &cap, s->nedges + 1, sizeof(Edge))) {
        s->nomem = 1;
        return 0;
    }
    s->cap_edges = (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap);
    Edge *e = &s->edges[s->nedges];
    e->caller = caller;
    e->callee = callee;
    e->count = count;
    size_t j = h & s->etab_mask;
    while (s->etab[j]) j = (j + 1) & s->etab_mask;
    s->etab[j] = TAG(h) | ++s->nedges;
    return 1;
}

static inline int add_edge(Scanner *s, uint32_t caller, uint32_t callee, uint64_t count) {
    return add_edge_count(s, caller, callee, count);
}

/* One accepted record into its tally `t` and the other aggregates. */
static int aggregate_into(Scanner *s, Tally *t, int64_t line, uint32_t caller, uint32_t code,
                          uint64_t count, int64_t micros) {
    tally_add(t, count, micros);
    uint32_t sym = t->sym;
    if (code != NONE_ID) {
        Str *e = &s->strs[sym];
        if (e->code == NONE_ID || line < e->code_line) {
            e->code = code;
            e->code_line = line;
        }
    }
    if (caller != NONE_ID && !add_edge(s, caller, sym, count)) return 0;
    s->records++;
    return 1;
}

/* One accepted record given by string ids (a pending line, a record from Python). */
static int aggregate(Scanner *s, int64_t line, uint32_t sym, uint32_t purl, uint32_t cont,
                     uint32_t caller, uint32_t code, uint64_t count, int64_t micros) {
    const Str *a = &s->strs[sym], *b = &s->strs[purl];
    const Str *c = cont == NONE_ID ? NULL : &s->strs[cont];
    const char *sp = s->arena.p + a->off, *pp = s->arena.p + b->off;
    const char *cp = c ? s->arena.p + c->off : NULL;
    size_t cn = c ? c->len : 0;
    uint64_t h = key_hash(s, sp, a->len, pp, b->len, cp, cn);
    Tally *t = tally_find(s, h, sp, a->len, pp, b->len, cp, cn);
    if (t) return aggregate_into(s, t, line, caller, code, count, micros);
    t = tally_new(s, h, sym, purl, cont, sp, a->len, pp, b->len, cp, cn, micros);
    return t && aggregate_into(s, t, line, caller, code, count, micros);
}

NO_COVERAGE static int add_event(Scanner *s, int64_t line, int kind, int flags, const char *p, size_t n) {
    GROW(s, s->events, s->nevents, s->cap_events, s->nevents + 1);
    Event *e = &s->events[s->nevents++];
    e->line = line;
    e->kind = kind;
    e->flags = flags;
    e->p = p;
    e->n = n;
    return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* one line                                                                                  */

typedef struct {
    const char *s[NF];
    size_t n[NF];
    uint64_t num[NF];
    uint32_t present;
} Rec;

/* The field whose name (then its closing quote) starts at k, and its length; -1 for any
 * other key (unknown, escaped, unterminated...: the careful path names it). The names are
 * matched directly, by their first letter and bytes, instead of scanning for the quote. */
static inline int field_at(const unsigned char *k, const unsigned char *end, size_t *len) {
#define IS(name, f)                                                                       \
    if ((size_t)(end - k) > sizeof(name) - 1 && memcmp(k, name, sizeof(name) - 1) == 0 &&   \
        k[sizeof(name) - 1] == '"') {                                                     \
        *len = sizeof(name) - 1;                                                          \
        return f;                                                                         \
    }
    if (k == end) return -1;
    switch (*k) {
    case 'b': IS("build_id", F_BUILD); break;
    case 'c':
        IS("count", F_COUNT);
        IS("container", F_CONTAINER);
        IS("code_id", F_CODE);
        IS("caller_symbol_id", F_CALLER);
        break;
    case 'l': IS("loader_base", F_LOADER); break;
    case 'p':
        IS("pid", F_PID);
        IS("purl", F_PURL);
        IS("process_name", F_PROCESS);
        break;
    case 's': IS("symbol_id", F_SYMBOL); break;
    case 't': IS("timestamp", F_TS); break;
    default: break;
    }
#undef IS
    return -1;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
/* Nonzero when some byte of w is zero (exact for the lowest such byte; a byte above it may
 * be flagged too, which only ends the fast run early). */
#define HAS_ZERO(w) (((w) - ONES) & ~(w) & HIGHS)

/* The longest run from p, in whole 8-byte words, with no '"', no backslash and no byte below
 * 0x20 (the bytes a JSON string value ends at or is refused for); ORs 0x80 into *high when it
 * held a byte of 0x80 or more. The caller goes on byte by byte from the returned position. */
NO_COVERAGE static inline const unsigned char *plain_run(const unsigned char *p, const unsigned char *end,
                                             unsigned char *high) {
    uint64_t seen = 0;
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t below = (w - 0x20 * ONES) & ~w & HIGHS; /* some byte < 0x20 (or a borrow) */
        if (below | HAS_ZERO(w ^ ('"' * ONES)) | HAS_ZERO(w ^ ('\\' * ONES))) break;
        seen |= w;
        p += 8;
    }
    if (seen & HIGHS) *high |= 0x80;
    return p;
}

/* The record shape, strictly: 1 = parsed, 0 = anything else (Python decides). */
static int parse_record(const unsigned char *p, const unsigned char *end, Rec *r) {
    r->present = 0;
    p = skip_ws(p, end);
    if (p == end || *p != '{') return 0;
    p = skip_ws(p + 1, end);
    for (;;) {
        if (p == end || *p != '"') return 0;
        size_t klen;
        int f = field_at(++p, end, &klen);
        if (f < 0) return 0; /* unknown field: the careful path warns and keeps it */
        p += klen;
        if (r->present & (1u << f)) return 0; /* duplicate key */
        r->present |= 1u << f;
        p = skip_ws(p + 1, end);
        if (p == end || *p != ':') return 0;
        p = skip_ws(p + 1, end);
        if (p == end) return 0;
        if (IS_INT(f)) {
            if (*p < '0' || *p > '9') return 0;
            uint64_t v = 0;
            if (*p == '0') {
                p++;
            } else {
                int digits = 0;
                while (p < end && *p >= '0' && *p <= '9') {
                    if (++digits > 19) return 0;
                    v = v * 10 + (uint64_t)(*p - '0');
                    p++;
                }
            }
            if (p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E'))
                return 0;
            r->num[f] = v;
        } else {
            if (*p != '"') return 0;
            const unsigned char *v = ++p;
            unsigned char high = 0;
            p = plain_run(p, end, &high);
            while (p < end) {
                unsigned char c = *p;
                if (c == '"') break;
                if (c < 0x20 || c == '\\') return 0;
                high |= c;
                p++;
            }
            if (p == end) return 0;
            if ((high & 0x80) && !utf8_ok(v, (size_t)(p - v))) return 0;
            r->s[f] = (const char *)v;
            r->n[f] = (size_t)(p - v);
            p++;
        }
        p = skip_ws(p, end);
        if (p == end) return 0;
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (*p == '}') {
            p++;
            break;
        }
        return 0;
    }
    return skip_ws(p, end) == end;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

#define US_PER_DAY 86400000000LL
static int64_t MIN_US, MAX_US;

static inline int digits(const char *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

/* `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`, a subset of what msgspec accepts, as UTC
 * microseconds since 1970; 0 for anything else or out of 0001..9999 once in UTC. */
static int timestamp(const char *p, size_t n, int64_t *out) {
    int y, mo, d, h, mi, se, frac = 0, oh = 0, om = 0;
    if (n < 20 || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':')
        return 0;
    if (!digits(p, 4, &y) || !digits(p + 5, 2, &mo) || !digits(p + 8, 2, &d) ||
        !digits(p + 11, 2, &h) || !digits(p + 14, 2, &mi) || !digits(p + 17, 2, &se))
        return 0;
    size_t i = 19;
    if (p[i] == '.') {
        size_t start = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9') i++;
        size_t k = i - start;
        if (k < 1 || k > 6) return 0;
        digits(p + start, (int)k, &frac);
        for (; k < 6; k++) frac *= 10;
    }
    if (i >= n) return 0;
    int sign = 0;
    if (p[i] == 'Z') {
        if (i + 1 != n) return 0;
    } else if (p[i] == '+' || p[i] == '-') {
        if (i + 6 != n || p[i + 3] != ':') return 0;
        if (!digits(p + i + 1, 2, &oh) || !digits(p + i + 4, 2, &om)) return 0;
        if (oh > 23 || om > 59) return 0;
        sign = p[i] == '+' ? 1 : -1;
    } else {
        return 0;
    }
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > dim[mo - 1] + (mo == 2 && leap)) return 0;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   se - (int64_t)sign * (oh * 3600 + om * 60);
    int64_t us = secs * 1000000 + frac;
    if (us < MIN_US || us > MAX_US) return 0;
    *out = us;
    return 1;
}

static inline int too_long(Scanner *s, const char *p, size_t n) {
    if (n <= s->max_line) return 0;
    return n - s->max_line > 1 || p[n - 1] != '\r';
}

/* One complete line (without its newline). 0 only when memory ran out. */
/* A line parsed but not yet counted or aggregated (see do_lines). */
enum { L_EMPTY, L_OVERLONG, L_BLANK, L_DEFER, L_RECORD };
typedef struct {
    const char *line;
    size_t n;
    int kind;
    Rec r;
    int64_t micros;
    uint64_t h;
} Prep;

/* The part of a line's job that changes nothing: split kinds, parse, check, hash the key,
 * and ask for the key table's slot to be fetched (do_lines finishes the line later). */
static void prep_line(Scanner *s, const char *line, size_t n, Prep *q) {
    q->line = line;
    q->n = n;
    const unsigned char *p = (const unsigned char *)line, *end = p + n;
    Rec *r = &q->r;
    if (too_long(s, line, n)) q->kind = L_OVERLONG;
    else if (n == 0 || (n == 1 && p[0] == '\r')) q->kind = L_EMPTY;
    else if (skip_ws(p, end) == end) q->kind = L_BLANK;
    else if (!parse_record(p, end, r) || (r->present & REQUIRED) != REQUIRED ||
             r->n[F_SYMBOL] < 1 || r->n[F_SYMBOL] > s->max_sym || r->num[F_COUNT] < 1 ||
             r->num[F_COUNT] > MAX_COUNT ||
             ((r->present & (1u << F_PID)) && r->num[F_PID] > MAX_PID) ||
             ((r->present & (1u << F_CALLER)) &&
              (r->n[F_CALLER] < 1 || r->n[F_CALLER] > s->max_sym)) ||
             !timestamp(r->s[F_TS], r->n[F_TS], &q->micros))
        q->kind = L_DEFER;
    else {
        q->kind = L_RECORD;
        const char *cp = (r->present & (1u << F_CONTAINER)) ? r->s[F_CONTAINER] : NULL;
        q->h = key_hash(s, r->s[F_SYMBOL], r->n[F_SYMBOL], r->s[F_PURL], r->n[F_PURL], cp,
                        cp ? r->n[F_CONTAINER] : 0);
        if (s->ktab) __builtin_prefetch(&s->ktab[q->h & s->ktab_mask]);
    }
}

/* Ask for the tally a prepared record's slot points at (its slot was fetched meanwhile). */
static inline void prefetch_tally(Scanner *s, const Prep *q) {
    if (q->kind != L_RECORD || !s->ktab) return;
    uint64_t v = s->ktab[q->h & s->ktab_mask];
    if (v) __builtin_prefetch(tally_at(s, v));
}

/* The optional field ``f`` of ``r`` interned into ``*id`` (NONE_ID when the record has no such
 * field). 0 only when memory ran out. */
static inline int intern_optional(Scanner *s, const Rec *r, int f, uint32_t *id) {
    *id = NONE_ID;
    if (!(r->present & (1u << f))) return 1;
    *id = intern_field(s, f, r->s[f], r->n[f]);
    return *id != NONE_ID;
}

/* The rest of a line's job, in line order. 0 only when memory ran out. */
static int finish_line(Scanner *s, Prep *q) {
    int64_t no = ++s->lines;
    const char *line = q->line;
    size_t n = q->n;
    switch (q->kind) {
    case L_OVERLONG:
        s->nonblank = 1;
        return add_event(s, no, EV_OVERLONG, 0, NULL, 0);
    case L_EMPTY:
        return 1;
    case L_BLANK: /* ignored */
        s->nonblank = 1;
        return 1;
    case L_DEFER:
        s->nonblank = 1;
        return add_event(s, no, EV_DEFER, 0, line, n);
    default:
        break;
    }
    s->nonblank = 1;
    Rec r = q->r;
    int64_t micros = q->micros;
    uint64_t h = q->h;
    int missing = ((r.present & (1u << F_PID)) ? 0 : 1) |
                  ((r.present & (1u << F_CONTAINER)) ? 0 : 2);
    const char *cp = (r.present & (1u << F_CONTAINER)) ? r.s[F_CONTAINER] : NULL;
    size_t cn = cp ? r.n[F_CONTAINER] : 0;
    Tally *t = tally_find(s, h, r.s[F_SYMBOL], r.n[F_SYMBOL], r.s[F_PURL], r.n[F_PURL], cp, cn);
    if (t) { /* a known key: its purl was found good, its strings are interned */
        uint32_t caller, code;
        if (!intern_optional(s, &r, F_CALLER, &caller) || !intern_optional(s, &r, F_CODE, &code))
            return 0;
        if (!aggregate_into(s, t, no, caller, code, r.num[F_COUNT], micros)) return 0;
        return missing ? add_event(s, no, EV_MISSING, missing, NULL, 0) : 1;
    }
    uint32_t purl = intern_field(s, F_PURL, r.s[F_PURL], r.n[F_PURL]);
    if (purl == NONE_ID) return 0;
    if (s->strs[purl].purl == PURL_BAD) return add_event(s, no, EV_DEFER, 0, line, n);
    uint32_t sym = intern_field(s, F_SYMBOL, r.s[F_SYMBOL], r.n[F_SYMBOL]);
    uint32_t cont, caller, code;
    if (!intern_optional(s, &r, F_CONTAINER, &cont) || !intern_optional(s, &r, F_CALLER, &caller) ||
        !intern_optional(s, &r, F_CODE, &code))
        return 0;
    if (sym == NONE_ID) return 0;
    if (s->strs[purl].purl == PURL_UNKNOWN) {
        if (!s->strs[purl].listed) {
            s->strs[purl].listed = 1;
            GROW(s, s->newpurls, s->nnewpurls, s->cap_newpurls, s->nnewpurls + 1);
            s->newpurls[s->nnewpurls++] = purl;
        }
        GROW(s, s->pending, s->npending, s->cap_pending, s->npending + 1);
        Pending *q = &s->pending[s->npending++];
        q->line = no;
        q->sym = sym;
        q->purl = purl;
        q->cont = cont;
        q->caller = caller;
        q->code = code;
        q->count = r.num[F_COUNT];
        q->micros = micros;
        q->missing = missing;
        q->p = line;
        q->n = n;
        return 1;
    }
    if (!aggregate(s, no, sym, purl, cont, caller, code, r.num[F_COUNT], micros)) return 0;
    return missing ? add_event(s, no, EV_MISSING, missing, NULL, 0) : 1;
}

/* This lane's own counts: while two lanes scan, each may look only at its own (and
 * do_region splits only a chunk in which no limit can be passed). */
static inline int over_limits(Scanner *s) {
    return s->records > s->max_records || (int64_t)s->nedges > s->max_edges;
}

static inline int64_t all_records(Scanner *s) {
    return s->records + (s->lane ? s->lane->records : 0);
}

/* Distinct edges of both lanes: exact once merged, else at most the sum. */
static inline int64_t all_edges(Scanner *s) {
    return (int64_t)s->nedges + (s->lane ? (int64_t)s->lane->nedges : 0);
}

static inline int over_all_limits(Scanner *s) {
    return all_records(s) > s->max_records || all_edges(s) > s->max_edges;
}

/* One complete line (without its newline). 0 only when memory ran out. */
static int do_line(Scanner *s, const char *line, size_t n) {
    Prep q;
    prep_line(s, line, n, &q);
    return finish_line(s, &q);
}

/* The complete lines of p[0:n] (the text after the last newline is the caller's), as a
 * pipeline that hides the two cache misses of a known key's look-up: line i is parsed and
 * its key-table slot fetched, line i - TALLY_AHEAD's tally is fetched, line i - DEPTH + 1
 * finished. Only finishing changes anything, in line order: a limit stops at the same line. */
#ifndef DEPTH
#define DEPTH 3
#endif
#define TALLY_AHEAD (DEPTH / 2)
static int do_lines(Scanner *s, const char *p, size_t n) {
    const char *end = p + n;
    Prep ring[DEPTH];
    uint64_t prepared = 0, finished = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        prep_line(s, p, (size_t)(nl - p), &ring[prepared % DEPTH]);
        prepared++;
        p = nl + 1;
        if (prepared - finished > TALLY_AHEAD)
            prefetch_tally(s, &ring[(prepared - 1 - TALLY_AHEAD) % DEPTH]);
        if (prepared - finished == DEPTH) {
            if (!finish_line(s, &ring[finished++ % DEPTH])) return 0;
            if (over_limits(s)) return 1;
        }
    }
    while (finished < prepared) {
        if (!finish_line(s, &ring[finished++ % DEPTH])) return 0;
        if (over_limits(s)) return 1;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* two lanes                                                                                 */

/* Everything result() no longer needs (drop_tables), and at its end everything (drop_all):
 * the scanner is spent. drop_all is also how a scanner or a lane is freed (dealloc). */
NO_COVERAGE static void drop_tables(Scanner *s) {
    free(s->ktab);
    free(s->stab);
    free(s->etab);
    free(s->events);
    free(s->pending);
    free(s->newpurls);
    free(s->carry.p);
    free(s->joined[0].p);
    free(s->joined[1].p);
    s->ktab = s->stab = s->etab = NULL;
    s->ktab_mask = s->stab_mask = s->etab_mask = 0;
    s->events = NULL;
    s->pending = NULL;
    s->newpurls = NULL;
    s->nevents = s->cap_events = s->npending = s->cap_pending = 0;
    s->nnewpurls = s->cap_newpurls = 0;
    memset(&s->carry, 0, sizeof(Buf));
    memset(s->joined, 0, sizeof(s->joined));
}

NO_COVERAGE static void drop_all(Scanner *s) {
    drop_tables(s);
    UNPOISON(s->tarena.p, s->tarena.cap); /* as malloc gave it: free() may write it */
    tarena_free(&s->tarena);
    free(s->arena.p);
    free(s->strs);
    free(s->edges);
    memset(&s->arena, 0, sizeof(Buf));
    s->strs = NULL;
    s->cap_strs = 0;
    s->edges = NULL;
    s->cap_edges = 0;
    if (s->strobj) {
        for (uint32_t i = 0; i < s->nstrobj; i++) Py_XDECREF(s->strobj[i]);
        free(s->strobj);
        s->strobj = NULL;
        s->nstrobj = 0;
    }
}

static void lane_free(Scanner *s) {
    if (!s->lane) return;
    drop_all(s->lane);
    free(s->lane);
    s->lane = NULL;
}

NO_COVERAGE static int64_t count_lines(const char *p, size_t n) {
    int64_t k = 0;
    const char *end = p + n;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
        k++;
        p++;
    }
    return k;
}

/* The second lane's aggregates into this one (then the lane is gone): tallies by their key
 * bytes, code ids by the lowest line, edges summed. 0 when memory ran out. */
static int merge_lane(Scanner *s) {
    Scanner *b = s->lane;
    if (!b) return 1;
    for (size_t off = 0; off < b->tarena.len;) {
        Tally *o = (Tally *)(void *)(b->tarena.p + off);
        off += tally_size(o);
        const char *sp = (const char *)(o + 1), *pp = sp + o->slen;
        const char *cp = o->cont == NONE_ID ? NULL : pp + o->plen;
        uint64_t h = o->hash; /* the lanes share the seed: key_hash(s, ...) */
        Tally *t = tally_find(s, h, sp, o->slen, pp, o->plen, cp, o->clen);
        if (!t) {
            uint32_t sym = intern(s, sp, o->slen), purl = intern(s, pp, o->plen);
            uint32_t cont = cp ? intern(s, cp, o->clen) : NONE_ID;
            if (sym == NONE_ID || purl == NONE_ID || (cp && cont == NONE_ID)) return 0;
            s->strs[purl].purl = PURL_GOOD;
            t = tally_new(s, h, sym, purl, cont, sp, o->slen, pp, o->plen, cp, o->clen, o->first);
            if (!t) return 0;
        }
        t->count += o->count;
        if (o->first < t->first) t->first = o->first;
        if (o->last > t->last) t->last = o->last;
    }
    for (uint32_t i = 0; i < b->nstrs; i++) {
        Str *e = &b->strs[i];
        if (e->code == NONE_ID) continue;
        Str *c = &b->strs[e->code];
        uint32_t sym = intern(s, b->arena.p + e->off, e->len);
        uint32_t code = sym == NONE_ID ? NONE_ID : intern(s, b->arena.p + c->off, c->len);
        if (code == NONE_ID) return 0;
        Str *mine = &s->strs[sym];
        if (mine->code == NONE_ID || e->code_line < mine->code_line) {
            mine->code = code;
            mine->code_line = e->code_line;
        }
    }
    for (uint32_t i = 0; i < b->nedges; i++) {
        Edge *e = &b->edges[i];
        Str *x = &b->strs[e->caller], *y = &b->strs[e->callee];
        uint32_t caller = intern(s, b->arena.p + x->off, x->len);
        uint32_t callee = caller == NONE_ID ? NONE_ID : intern(s, b->arena.p + y->off, y->len);
        if (callee == NONE_ID || !add_edge_count(s, caller, callee, e->count)) return 0;
    }
    s->records += b->records;
    lane_free(s);
    return 1;
}

/* Whether `lines` more lines (at most one record and one new edge each) keep both lanes
 * together within the limits. */
static inline int lanes_within(Scanner *s, int64_t lines) {
    return all_records(s) + lines <= s->max_records && all_edges(s) + lines <= s->max_edges;
}

/* Before scanning `lines` more lines (at most) while a second lane holds aggregates: when
 * they could pass a limit, merge it, so that the limits are checked on exact counts and
 * stop the scan at the line one lane would have stopped at. 0 when memory ran out. */
static int bound_lanes(Scanner *s, int64_t lines) {
    if (!s->lane || lanes_within(s, lines)) return 1;
    if (merge_lane(s)) return 1;
    s->nomem = 1;
    return 0;
}

typedef struct {
    Scanner *lane;
    const char *p;
    size_t n;
    int ok;
} LaneJob;

static void *lane_run(void *arg) {
    LaneJob *job = arg;
    job->ok = do_lines(job->lane, job->p, job->n);
    return NULL;
}

/* The fuzz driver's second-lane thread, started once and kept: under ASan a thread costs
 * hundreds of microseconds to start and end (its stack's shadow is cleared), more than the
 * scan of a fuzz input. The lanes still run at the same time on two threads. One job at a
 * time: a second driver in flight (another Python thread) starts a thread of its own. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    LaneJob *job; /* posted, not yet finished */
    int busy;     /* posted and not yet waited for */
    int started;
} Worker;
static Worker fuzz_worker = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0};

NO_COVERAGE static void *worker_main(void *arg) {
    Worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->job) pthread_cond_wait(&w->cv, &w->mu);
        LaneJob *job = w->job;
        pthread_mutex_unlock(&w->mu);
        lane_run(job);
        pthread_mutex_lock(&w->mu);
        w->job = NULL;
        pthread_cond_broadcast(&w->cv);
    }
    return NULL;
}

/* 1 when the worker took the job (then worker_wait), 0 when it cannot (busy, no thread). */
NO_COVERAGE static int worker_post(Worker *w, LaneJob *job) {
    int taken = 0;
    pthread_mutex_lock(&w->mu);
    if (!w->busy) {
        pthread_t thread;
        if (!w->started && pthread_create(&thread, NULL, worker_main, w) == 0) {
            pthread_detach(thread);
            w->started = 1;
        }
        if (w->started) {
            w->busy = 1;
            w->job = job;
            pthread_cond_broadcast(&w->cv);
            taken = 1;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return taken;
}

NO_COVERAGE static void worker_wait(Worker *w) {
    pthread_mutex_lock(&w->mu);
    while (w->job) pthread_cond_wait(&w->cv, &w->mu);
    w->busy = 0;
    pthread_mutex_unlock(&w->mu);
}

/* Complete lines p[0:n] (n > 0, ending with a newline). A big run is cut in two at a line
 * end and the second half scanned by the second lane on its own thread, when no limit can
 * be passed in it (every line at most one record and one edge): the limits then stop the
 * scan at the same line as one lane would. Line numbers, events and aggregates come out as
 * from one lane once merged (events are sorted by line in settle). */
static int do_region(Scanner *s, const char *p, size_t n) {
    if (s->is_lane || n < s->split_min || n < 2 || s->ntallies > s->lane_max_keys)
        return do_lines(s, p, n);
    const char *mid = memchr(p + n / 2, '\n', n - n / 2); /* p[n - 1] is one */
    const char *second = mid + 1, *end = p + n;
    if (second == end) return do_lines(s, p, n);
    int64_t first_lines = count_lines(p, (size_t)(second - p));
    /* the second half's bytes bound its lines: counted only when that bound is too loose */
    int64_t lines = first_lines + (int64_t)(end - second);
    if (!lanes_within(s, lines)) lines = first_lines + count_lines(second, (size_t)(end - second));
    if (!lanes_within(s, lines))
        return bound_lanes(s, lines) && do_lines(s, p, n); /* near a limit: one lane */
    Scanner *b = s->lane;
    if (!b) {
        b = calloc(1, sizeof(Scanner));
        if (!b) {
            s->nomem = 1;
            return 0;
        }
        b->max_line = s->max_line;
        b->max_sym = s->max_sym;
        b->max_records = s->max_records;
        b->max_edges = s->max_edges;
        b->seed = s->seed;
        memcpy(b->key, s->key, sizeof(b->key));
        b->missing_budget = -1;
        b->is_lane = 1;
        s->lane = b;
    }
    b->lines = s->lines + first_lines;
    LaneJob job = {b, second, (size_t)(end - second), 0};
    pthread_t thread;
    int pooled = !s->in_turn && s->use_worker && worker_post(&fuzz_worker, &job);
    int threaded = !s->in_turn && !pooled && pthread_create(&thread, NULL, lane_run, &job) == 0;
    int ok = do_lines(s, p, (size_t)(second - p));
    if (pooled) worker_wait(&fuzz_worker);
    else if (threaded) pthread_join(thread, NULL);
    else lane_run(&job); /* no thread to be had: the same work, in turn */
    if (b->nomem) s->nomem = 1;
    if (!ok || !job.ok) return 0;
    s->lines = b->lines;
    s->nonblank |= b->nonblank;
    return 1;
}

/* A chunk: finish the partial line, scan the complete lines, keep the new partial line. */
static int scan_chunk(Scanner *s, const char *p, size_t n) {
    const char *end = p + n;
    /* n bytes hold at most n lines: the exact count only when that bound is too loose */
    if (s->lane && !lanes_within(s, (int64_t)n + 1) && !bound_lanes(s, count_lines(p, n) + 1))
        return 0;
    /* Many keys: the second lane's copy of them goes now (one lane from here on, do_region),
     * at the start of a chunk like the merge above, when nothing of the lane waits to settle. */
    if (s->lane && s->ntallies > s->lane_max_keys && !merge_lane(s)) {
        s->nomem = 1;
        return 0;
    }
    if (s->skipping) {
        const char *nl = memchr(p, '\n', n);
        if (!nl) return 1;
        p = nl + 1;
        s->skipping = 0;
    }
    const char *last = p < end ? memrchr(p, '\n', (size_t)(end - p)) : NULL;
    if (!last) { /* no line ends here: it all joins the partial line */
        size_t total = s->carry.len + (size_t)(end - p);
        if (total > s->max_line &&
            (total - s->max_line > 1 || (end > p ? end[-1] : s->carry.p[s->carry.len - 1]) != '\r')) {
            s->lines++;
            s->nonblank = 1;
            s->carry.len = 0;
            s->skipping = 1;
            return add_event(s, s->lines, EV_OVERLONG, 0, NULL, 0);
        }
        return buf_append(s, &s->carry, p, (size_t)(end - p));
    }
    if (s->carry.len) { /* the line the previous chunks began */
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t head = (size_t)(nl - p);
        Buf *j = &s->joined[s->joined_next];
        s->joined_next ^= 1;
        size_t total = s->carry.len + head;
        if (total > s->max_line + 1) { /* overlong whatever its end: do not copy it */
            s->lines++;
            s->nonblank = 1;
            if (!add_event(s, s->lines, EV_OVERLONG, 0, NULL, 0)) return 0;
        } else {
            if (!buf_set(s, j, s->carry.p, s->carry.len)) return 0;
            if (!buf_append(s, j, p, head)) return 0;
            if (!do_line(s, j->p, j->len)) return 0;
        }
        s->carry.len = 0;
        if (over_limits(s)) return 1;
        p = nl + 1;
    }
    if (!do_region(s, p, (size_t)(last + 1 - p))) return 0;
    if (over_limits(s)) return 1;
    p = last + 1;
    size_t rest = (size_t)(end - p);
    if (too_long(s, p, rest)) {
        s->lines++;
        s->nonblank = 1;
        s->skipping = 1;
        return add_event(s, s->lines, EV_OVERLONG, 0, NULL, 0);
    }
    return buf_set(s, &s->carry, p, rest);
}

/* ---------------------------------------------------------------------------------------- */
/* the Python type                                                                           */

static void release_chunk(Scanner *s) { Py_CLEAR(s->chunk); }

static void Scanner_dealloc(Scanner *s) {
    release_chunk(s);
    lane_free(s);
    drop_all(s);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static int Scanner_init(Scanner *s, PyObject *args, PyObject *kwds) {
    static char *kw[] = {"max_line_bytes", "max_symbol_id_bytes", "max_records", "max_edges",
                         "seed", NULL};
    Py_ssize_t max_line, max_sym;
    long long max_records, max_edges;
    unsigned long long seed;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "nnLLK", kw, &max_line, &max_sym,
                                     &max_records, &max_edges, &seed))
        return -1;
    if (max_line <= 0 || max_sym <= 0 || max_records <= 0 || max_edges <= 0) {
        PyErr_SetString(PyExc_ValueError, "limits must be positive");
        return -1;
    }
    if (s->strs || s->lines) {
        PyErr_SetString(PyExc_RuntimeError, "a Scanner is initialised once");
        return -1;
    }
    s->max_line = (size_t)max_line;
    s->max_sym = (size_t)max_sym;
    s->max_records = max_records;
    s->max_edges = max_edges;
    s->seed = mix64(seed);
    derive_key(s->key, s->seed);
    s->missing_budget = -1;
    s->split_min = SPLIT_MIN_DEFAULT;
    s->lane_max_keys = LANE_MAX_KEYS_DEFAULT;
    return 0;
}

static int enter(Scanner *s) {
    if (s->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Scanner used from two threads at once");
        return 0;
    }
    if (s->spent) {
        PyErr_SetString(PyExc_RuntimeError, "Scanner's result() was taken: it holds nothing more");
        return 0;
    }
    if (s->nomem) {
        PyErr_NoMemory();
        return 0;
    }
    s->busy = 1;
    return 1;
}

static size_t all_new_purls(Scanner *s) {
    return s->nnewpurls + (s->lane ? s->lane->nnewpurls : 0);
}

/* The purls seen for the first time: this lane's, then the second lane's (a purl may be in
 * both: each lane keeps its own verdicts). */
static PyObject *new_purls(Scanner *s) {
    PyObject *out = PyList_New((Py_ssize_t)all_new_purls(s));
    if (!out) return NULL;
    Py_ssize_t k = 0;
    for (Scanner *l = s; l; l = l->lane) {
        for (size_t i = 0; i < l->nnewpurls; i++) {
            Str *e = &l->strs[l->newpurls[i]];
            PyObject *u = PyUnicode_DecodeUTF8(l->arena.p + e->off, e->len, "strict");
            if (!u) {
                Py_DECREF(out);
                return NULL;
            }
            PyList_SET_ITEM(out, k++, u);
        }
    }
    return out;
}

/* Whether a chunk left something to settle (events, pending lines, new purls) in a lane. */
NO_COVERAGE static int unsettled(Scanner *s) {
    for (Scanner *l = s; l; l = l->lane)
        if (l->nnewpurls || l->nevents || l->npending) return 1;
    return 0;
}

NO_COVERAGE static PyObject *after_scan(Scanner *s, int ok) {
    s->busy = 0;
    if (!ok || s->nomem) {
        s->nomem = 1;
        return PyErr_NoMemory();
    }
    if (!unsettled(s) && !over_all_limits(s)) {
        release_chunk(s); /* nothing to settle: the common case, one call per chunk */
        Py_RETURN_NONE;
    }
    return new_purls(s);
}

PyDoc_STRVAR(feed_doc,
             "feed(chunk: bytes) -> list[str] | None\n\nScan a chunk of decompressed NDJSON (GIL "
             "released). Returns None when every line was accepted and aggregated; else the "
             "purls seen for the first time, to be checked and given to settle(), which must "
             "then be called before the next feed().");

static PyObject *Scanner_feed(Scanner *s, PyObject *arg) {
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "feed() takes bytes");
        return NULL;
    }
    if (s->chunk || unsettled(s)) {
        PyErr_SetString(PyExc_RuntimeError, "settle() the previous chunk first");
        return NULL;
    }
    if (!enter(s)) return NULL;
    Py_INCREF(arg);
    s->chunk = arg;
    const char *p = PyBytes_AS_STRING(arg);
    size_t n = (size_t)PyBytes_GET_SIZE(arg);
    int ok = 1;
    if (n) {
        Py_BEGIN_ALLOW_THREADS
        ok = scan_chunk(s, p, n);
        Py_END_ALLOW_THREADS
    }
    return after_scan(s, ok);
}

PyDoc_STRVAR(finish_doc, "finish() -> list[str] | None\n\nThe last line, if the data did "
                         "not end with a newline; then settle() as after feed().");

static PyObject *Scanner_finish(Scanner *s, PyObject *Py_UNUSED(ignored)) {
    if (s->chunk || unsettled(s)) {
        PyErr_SetString(PyExc_RuntimeError, "settle() the previous chunk first");
        return NULL;
    }
    if (!enter(s)) return NULL;
    int ok = bound_lanes(s, 1);
    if (ok && s->carry.len && !s->skipping) {
        s->nonblank = 1; /* a last line without its newline counts, even a lone CR */
        Buf *j = &s->joined[s->joined_next];
        s->joined_next ^= 1;
        ok = buf_set(s, j, s->carry.p, s->carry.len) && do_line(s, j->p, j->len);
        s->carry.len = 0;
    }
    return after_scan(s, ok);
}

NO_COVERAGE static int event_order(const void *a, const void *b) {
    int64_t x = ((const Event *)a)->line, y = ((const Event *)b)->line;
    return (x > y) - (x < y);
}

PyDoc_STRVAR(settle_doc,
             "settle(good: list[bool]) -> list[tuple[int, int, object]]\n\nThe verdicts on "
             "the purls the last feed()/finish() returned, in order; aggregates the lines "
             "that waited for them. Returns the events of the chunk in line order: (line, 0, "
             "bytes) a line for the careful parser, (line, 1, None) a line over the limit, "
             "(line, 2, flags) an accepted record without pid (flag 1) or container (2).");

/* The verdicts good[at:at + lane->nnewpurls] (a tuple) on a lane's new purls; then its
 * pending lines, in order; its events join the first lane's. 0 on an error (set). */
static int settle_lane(Scanner *s, Scanner *l, PyObject *good, size_t at) {
    for (size_t i = 0; i < l->nnewpurls; i++) {
        int verdict = PyObject_IsTrue(PyTuple_GET_ITEM(good, (Py_ssize_t)(at + i)));
        if (verdict < 0) return 0;
        l->strs[l->newpurls[i]].purl = verdict ? PURL_GOOD : PURL_BAD;
    }
    l->nnewpurls = 0;
    int ok = 1;
    for (size_t i = 0; ok && i < l->npending && !over_limits(l); i++) {
        Pending *q = &l->pending[i];
        if (l->strs[q->purl].purl == PURL_GOOD) {
            ok = aggregate(l, q->line, q->sym, q->purl, q->cont, q->caller, q->code, q->count,
                           q->micros) &&
                 (!q->missing || add_event(s, q->line, EV_MISSING, q->missing, NULL, 0));
        } else {
            ok = add_event(s, q->line, EV_DEFER, 0, q->p, q->n);
        }
    }
    l->npending = 0;
    if (ok && l != s) {
        for (size_t i = 0; ok && i < l->nevents; i++) {
            Event *e = &l->events[i];
            ok = add_event(s, e->line, e->kind, e->flags, e->p, e->n);
        }
        l->nevents = 0;
    }
    if (!ok || l->nomem) {
        s->nomem = 1;
        PyErr_NoMemory();
        return 0;
    }
    return 1;
}

NO_COVERAGE static PyObject *Scanner_settle(Scanner *s, PyObject *good) {
    if (!PyList_Check(good)) {
        PyErr_SetString(PyExc_ValueError, "settle() takes one bool per new purl");
        return NULL;
    }
    /* Busy first: the count of new purls reads the second lane, which a feed() on another
     * thread (the GIL released) may be writing or freeing. */
    if (!enter(s)) return NULL;
    if ((size_t)PyList_GET_SIZE(good) != all_new_purls(s)) {
        s->busy = 0;
        PyErr_SetString(PyExc_ValueError, "settle() takes one bool per new purl");
        return NULL;
    }
    /* A copy: a verdict's __bool__ runs Python code, which could shrink the list. */
    PyObject *verdicts = PyList_AsTuple(good);
    size_t mine = s->nnewpurls;
    int ok = verdicts && settle_lane(s, s, verdicts, 0) &&
             (!s->lane || settle_lane(s, s->lane, verdicts, mine));
    Py_XDECREF(verdicts);
    s->busy = 0;
    if (!ok) return NULL;
    if (s->nevents > 1) qsort(s->events, s->nevents, sizeof(Event), event_order); /* never NULL */
    if (s->missing_budget >= 0) {
        /* No sink, and room for `budget` more kept diagnostics: once that many missing-field
         * events (one warning or two each) are handed over, the kept list is full whatever
         * the other events bring, so the later ones are only counted. In line order. */
        long long budget = s->missing_budget;
        size_t kept = 0;
        for (size_t i = 0; i < s->nevents; i++) {
            Event *e = &s->events[i];
            if (e->kind == EV_MISSING) {
                if (budget <= 0) {
                    s->suppressed += (e->flags & 1) + ((e->flags >> 1) & 1);
                    continue;
                }
                budget--;
            }
            s->events[kept++] = *e;
        }
        s->nevents = kept;
    }
    PyObject *out = PyList_New((Py_ssize_t)s->nevents);
    if (!out) return NULL;
    for (size_t i = 0; i < s->nevents; i++) {
        Event *e = &s->events[i];
        PyObject *payload;
        if (e->kind == EV_DEFER) payload = PyBytes_FromStringAndSize(e->p, (Py_ssize_t)e->n);
        else if (e->kind == EV_MISSING) payload = PyLong_FromLong(e->flags);
        else payload = Py_NewRef(Py_None);
        PyObject *t = payload ? Py_BuildValue("(LiN)", (long long)e->line, e->kind, payload)
                              : NULL;
        if (!t) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, t);
    }
    s->nevents = 0;
    release_chunk(s);
    return out;
}

NO_COVERAGE static uint32_t intern_arg(Scanner *s, PyObject *o) {
    if (o == Py_None) return NONE_ID;
    if (!PyBytes_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "add() takes bytes or None");
        return UINT32_MAX - 1;
    }
    uint32_t id = intern(s, PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o));
    if (id == NONE_ID) {
        PyErr_NoMemory();
        return UINT32_MAX - 1;
    }
    return id;
}

PyDoc_STRVAR(add_doc, "add(line, symbol_id, purl, container, count, micros, caller, code_id)"
                      "\n\nAggregate a record the careful parser accepted (strings as UTF-8 "
                      "bytes or None; micros: UTC microseconds since 1970).");

NO_COVERAGE static PyObject *Scanner_add(Scanner *s, PyObject *args) {
    long long line, micros;
    unsigned long long count;
    PyObject *sym_o, *purl_o, *cont_o, *caller_o, *code_o;
    if (!PyArg_ParseTuple(args, "LSSOKLOO", &line, &sym_o, &purl_o, &cont_o, &count, &micros,
                          &caller_o, &code_o))
        return NULL;
    if (!enter(s)) return NULL;
    uint32_t ids[5];
    PyObject *objs[5] = {sym_o, purl_o, cont_o, caller_o, code_o};
    for (int i = 0; i < 5; i++) {
        ids[i] = intern_arg(s, objs[i]);
        if (ids[i] == UINT32_MAX - 1) {
            s->busy = 0;
            return NULL;
        }
    }
    s->strs[ids[1]].purl = PURL_GOOD;
    int ok = aggregate(s, line, ids[0], ids[1], ids[2], ids[3], ids[4], count, micros);
    s->busy = 0;
    if (!ok) {
        s->nomem = 1;
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

static PyObject *str_of(Scanner *s, uint32_t id) {
    if (!s->strobj[id]) {
        Str *e = &s->strs[id];
        s->strobj[id] = PyUnicode_DecodeUTF8(s->arena.p + e->off, e->len, "strict");
        if (!s->strobj[id]) return NULL;
    }
    return Py_NewRef(s->strobj[id]);
}

static PyObject *u128_long(u128 v) {
    if (v <= (u128)UINT64_MAX) return PyLong_FromUnsignedLongLong((unsigned long long)v);
    PyObject *hi = PyLong_FromUnsignedLongLong((unsigned long long)(v >> 64));
    PyObject *lo = hi ? PyLong_FromUnsignedLongLong((unsigned long long)v) : NULL;
    PyObject *shift = lo ? PyLong_FromLong(64) : NULL;
    PyObject *out = NULL, *up = NULL;
    if (hi && lo && shift && (up = PyNumber_Lshift(hi, shift))) out = PyNumber_Or(up, lo);
    Py_XDECREF(hi);
    Py_XDECREF(lo);
    Py_XDECREF(shift);
    Py_XDECREF(up);
    return out;
}

static PyObject *utc_datetime(int64_t us) {
    int64_t days = us >= 0 ? us / US_PER_DAY : -((-us + US_PER_DAY - 1) / US_PER_DAY);
    int64_t rem = us - days * US_PER_DAY;
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / 1000000;
    return PyDateTimeAPI->DateTime_FromDateAndTime(
        y, m, d, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60),
        (int)(rem % 1000000), PyDateTime_TimeZone_UTC, PyDateTimeAPI->DateTimeType);
}

/* Pages of [*released, upto) of the tally arena go back to the system as result() passes
 * them (Linux): the Python tallies grow while the C ones shrink, instead of both at once (a
 * 160,000-key trace: 38 MiB of arena; issue 19). Only whole pages strictly inside the block
 * (malloc's own bookkeeping is before it); under ASan they are poisoned too: a read of a
 * released tally is reported. Never read again: the arena is freed at the end of result(). */
#define RELEASE_STEP ((size_t)1 << 20)
static size_t page_size;

NO_COVERAGE static void release_pages(char *base, size_t *released, size_t upto) {
    size_t page = page_size ? page_size : 4096;
    uintptr_t start = ((uintptr_t)base + *released + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t end = ((uintptr_t)base + upto) & ~(uintptr_t)(page - 1);
    if (end <= start) return;
    POISON((void *)start, end - start);
#if defined(__linux__) && defined(MADV_DONTNEED)
    (void)madvise((void *)start, end - start, MADV_DONTNEED);
#endif
    *released = (size_t)(end - (uintptr_t)base);
}


/* Distinct symbol ids, the earliest and the latest time over the tallies (summary()). 0 when
 * memory ran out. */
static int summarise(Scanner *s, long long *symbols, int64_t *first, int64_t *last) {
    unsigned char *seen = calloc(s->nstrs ? s->nstrs : 1, 1);
    if (!seen) return 0;
    *symbols = 0;
    *first = INT64_MAX;
    *last = INT64_MIN;
    for (size_t off = 0; off < s->tarena.len;) {
        Tally *t = (Tally *)(void *)(s->tarena.p + off);
        off += tally_size(t);
        *symbols += !seen[t->sym];
        seen[t->sym] = 1;
        if (t->first < *first) *first = t->first;
        if (t->last > *last) *last = t->last;
    }
    free(seen);
    return 1;
}

PyDoc_STRVAR(result_doc,
             "result(tally_type, unset) -> (tallies, edges, code_ids)\n\nThe aggregates as "
             "the pure-Python parser builds them: {(symbol_id, purl, container or unset): "
             "tally_type(count, first, last)}, {(caller, callee): count}, {symbol_id: code_id}."
             "\n\nThe scanner's last act: its tables are released while the dicts are built; "
             "afterwards summary() and the counts answer, every other method raises "
             "RuntimeError.");

static PyObject *Scanner_result(Scanner *s, PyObject *args) {
    PyObject *tally_type, *unset;
    if (!PyArg_ParseTuple(args, "OO", &tally_type, &unset)) return NULL;
    if (!enter(s)) return NULL;
    int merged = merge_lane(s);
    s->busy = 0;
    if (!merged || !summarise(s, &s->kept_symbols, &s->kept_first, &s->kept_last)) {
        s->nomem = 1;
        return PyErr_NoMemory();
    }
    /* From here on the scanner is spent (also for a call re-entering from tally_type) and
     * the lookup tables are gone: only the arenas are read, front to back. */
    s->spent = 1;
    drop_tables(s);
    PyObject *tallies = NULL, *edges = NULL, *codes = NULL;
    if (s->nstrobj < s->nstrs) {
        PyObject **more = realloc(s->strobj, s->nstrs * sizeof(PyObject *));
        if (!more) goto fail;
        memset(more + s->nstrobj, 0, (s->nstrs - s->nstrobj) * sizeof(PyObject *));
        s->strobj = more;
        s->nstrobj = s->nstrs;
    }
    tallies = PyDict_New();
    edges = PyDict_New();
    codes = PyDict_New();
    if (!tallies || !edges || !codes) goto fail;
    size_t released = 0, step = 0;
    for (size_t off = 0; off < s->tarena.len;) {
        Tally *t = (Tally *)(void *)(s->tarena.p + off);
        off += tally_size(t);
        PyObject *key = PyTuple_New(3);
        if (!key) goto fail;
        /* one at a time: no call with an exception already set */
        PyObject *a = str_of(s, t->sym);
        PyObject *b = a ? str_of(s, t->purl) : NULL;
        PyObject *c = !b ? NULL : t->cont == NONE_ID ? Py_NewRef(unset) : str_of(s, t->cont);
        PyTuple_SET_ITEM(key, 0, a);
        PyTuple_SET_ITEM(key, 1, b);
        PyTuple_SET_ITEM(key, 2, c);
        if (!a || !b || !c) {
            Py_DECREF(key);
            goto fail;
        }
        /* strings and `unset` only: never part of a cycle, and untracked the cyclic
         * collector does not walk 100,000s of them each time it runs */
        PyObject_GC_UnTrack(key);
        PyObject *count = u128_long(t->count);
        PyObject *first = count ? utc_datetime(t->first) : NULL;
        PyObject *last = first ? utc_datetime(t->last) : NULL;
        PyObject *tally = NULL;
        if (count && first && last)
            tally = PyObject_CallFunctionObjArgs(tally_type, count, first, last, NULL);
        Py_XDECREF(count);
        Py_XDECREF(first);
        Py_XDECREF(last);
        int bad = !tally || PyDict_SetItem(tallies, key, tally) < 0;
        Py_XDECREF(tally);
        Py_DECREF(key);
        if (bad) goto fail;
        if (off - step >= RELEASE_STEP) { /* `t` is not read again */
            release_pages(s->tarena.p, &released, off);
            step = off;
        }
    }
    for (uint32_t i = 0; i < s->nedges && (int64_t)i < s->max_edges; i++) {
        Edge *e = &s->edges[i];
        PyObject *a = str_of(s, e->caller);
        PyObject *b = a ? str_of(s, e->callee) : NULL;
        PyObject *key = (a && b) ? PyTuple_Pack(2, a, b) : NULL;
        Py_XDECREF(a);
        Py_XDECREF(b);
        PyObject *count = key ? u128_long(e->count) : NULL;
        int bad = !count || PyDict_SetItem(edges, key, count) < 0;
        Py_XDECREF(key);
        Py_XDECREF(count);
        if (bad) goto fail;
    }
    for (uint32_t i = 0; i < s->nstrs; i++) {
        if (s->strs[i].code == NONE_ID) continue;
        PyObject *a = str_of(s, i);
        PyObject *b = a ? str_of(s, s->strs[i].code) : NULL;
        int bad = !a || !b || PyDict_SetItem(codes, a, b) < 0;
        Py_XDECREF(a);
        Py_XDECREF(b);
        if (bad) goto fail;
    }
    drop_all(s);
    return Py_BuildValue("(NNN)", tallies, edges, codes);
fail: /* spent refuses everything but summary() and the counts, which stay true */
    drop_all(s);
    Py_XDECREF(tallies);
    Py_XDECREF(edges);
    Py_XDECREF(codes);
    if (!PyErr_Occurred()) PyErr_NoMemory();
    return NULL;
}

PyDoc_STRVAR(summary_doc,
             "summary() -> (unique_symbols, first_seen, last_seen)\n\nOver the tallies result() "
             "returns: distinct symbol ids, the earliest and the latest time (UTC datetimes, "
             "None when there is no tally).");

static PyObject *Scanner_summary(Scanner *s, PyObject *Py_UNUSED(ignored)) {
    long long symbols;
    int64_t first, last;
    if (s->spent && !s->busy && !s->nomem) { /* what result() kept */
        symbols = s->kept_symbols;
        first = s->kept_first;
        last = s->kept_last;
    } else {
        if (!enter(s)) return NULL;
        int merged = merge_lane(s);
        s->busy = 0;
        if (!merged || !summarise(s, &symbols, &first, &last)) {
            s->nomem = 1;
            return PyErr_NoMemory();
        }
    }
    if (!s->ntallies) return Py_BuildValue("(iOO)", 0, Py_None, Py_None);
    return Py_BuildValue("(LNN)", symbols, utc_datetime(first), utc_datetime(last));
}

/* The attributes read or write what a scan writes from threads without the GIL: while a
 * scan is in progress (feed() on another thread, busy set) they refuse instead of racing. */
static int idle(Scanner *s) {
    if (!s->busy) return 1;
    PyErr_SetString(PyExc_RuntimeError, "Scanner is scanning: its counts are not settled");
    return 0;
}

static PyObject *get_lines(Scanner *s, void *c) {
    (void)c;
    return idle(s) ? PyLong_FromLongLong(s->lines) : NULL;
}
static PyObject *get_records(Scanner *s, void *c) {
    (void)c;
    return idle(s) ? PyLong_FromLongLong(all_records(s)) : NULL;
}
static PyObject *get_edges(Scanner *s, void *c) {
    (void)c;
    return idle(s) ? PyLong_FromLongLong(all_edges(s)) : NULL;
}
static PyObject *get_nonblank(Scanner *s, void *c) {
    (void)c;
    return idle(s) ? PyBool_FromLong(s->nonblank) : NULL;
}
/* Distinct keys of both lanes, exactly: the second lane's keys the first lane also holds
 * are counted once (looked up, not merged: reading changes nothing). */
static PyObject *get_keys(Scanner *s, void *c) {
    (void)c;
    if (!idle(s)) return NULL;
    unsigned long long keys = s->ntallies;
    Scanner *b = s->lane;
    for (size_t off = 0; b && off < b->tarena.len;) {
        Tally *o = (Tally *)(void *)(b->tarena.p + off);
        off += tally_size(o);
        const char *sp = (const char *)(o + 1), *pp = sp + o->slen;
        const char *cp = o->cont == NONE_ID ? NULL : pp + o->plen;
        keys += !tally_find(s, o->hash, sp, o->slen, pp, o->plen, cp, o->clen);
    }
    return PyLong_FromUnsignedLongLong(keys);
}

static PyObject *get_budget(Scanner *s, void *c) {
    (void)c;
    return idle(s) ? PyLong_FromLongLong(s->missing_budget) : NULL;
}
static int set_budget(Scanner *s, PyObject *v, void *c) {
    (void)c;
    if (!idle(s)) return -1;
    long long b = v ? PyLong_AsLongLong(v) : -1;
    if (b == -1 && PyErr_Occurred()) return -1;
    s->missing_budget = b < 0 ? -1 : b;
    return 0;
}
static PyObject *get_split_min(Scanner *s, void *c) {
    (void)c;
    return idle(s) ? PyLong_FromSize_t(s->split_min) : NULL;
}
static int set_split_min(Scanner *s, PyObject *v, void *c) {
    (void)c;
    if (!idle(s)) return -1;
    size_t n = v ? PyLong_AsSize_t(v) : (size_t)-1;
    if (n == (size_t)-1 && PyErr_Occurred()) return -1;
    if (!v) {
        PyErr_SetString(PyExc_AttributeError, "split_min cannot be deleted");
        return -1;
    }
    s->split_min = n;
    return 0;
}
static PyObject *get_lane_max_keys(Scanner *s, void *c) {
    (void)c;
    return idle(s) ? PyLong_FromUnsignedLong(s->lane_max_keys) : NULL;
}
static int set_lane_max_keys(Scanner *s, PyObject *v, void *c) {
    (void)c;
    if (!idle(s)) return -1;
    if (!v) {
        PyErr_SetString(PyExc_AttributeError, "lane_max_keys cannot be deleted");
        return -1;
    }
    unsigned long n = PyLong_AsUnsignedLong(v);
    if (n == (unsigned long)-1 && PyErr_Occurred()) return -1;
    if (n > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "lane_max_keys is at most 2**32 - 1");
        return -1;
    }
    s->lane_max_keys = (uint32_t)n;
    return 0;
}
static PyObject *get_suppressed(Scanner *s, void *c) {
    (void)c;
    return idle(s) ? PyLong_FromLongLong(s->suppressed) : NULL;
}

static PyGetSetDef Scanner_getset[] = {
    {"missing_budget", (getter)get_budget, (setter)set_budget,
     "missing-field events settle() hands over before only counting them (-1: all)", NULL},
    {"suppressed", (getter)get_suppressed, NULL, "warnings counted but not handed over", NULL},
    {"split_min", (getter)get_split_min, (setter)set_split_min,
     "runs of complete lines this long or longer are scanned by two threads", NULL},
    {"lane_max_keys", (getter)get_lane_max_keys, (setter)set_lane_max_keys,
     "past this many distinct keys the second lane is merged and one lane scans on", NULL},
    {"lines", (getter)get_lines, NULL, "lines scanned (blank ones included)", NULL},
    {"records", (getter)get_records, NULL, "records aggregated", NULL},
    {"edge_count", (getter)get_edges, NULL, "distinct call edges (at most max_edges + 1)", NULL},
    {"nonblank", (getter)get_nonblank, NULL, "a line other than '' or '\\r' was seen", NULL},
    {"key_count", (getter)get_keys, NULL,
     "distinct (symbol_id, purl, container), both lanes (a key in both counted once)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Scanner_methods[] = {
    {"feed", (PyCFunction)Scanner_feed, METH_O, feed_doc},
    {"finish", (PyCFunction)Scanner_finish, METH_NOARGS, finish_doc},
    {"settle", (PyCFunction)Scanner_settle, METH_O, settle_doc},
    {"add", (PyCFunction)Scanner_add, METH_VARARGS, add_doc},
    {"result", (PyCFunction)Scanner_result, METH_VARARGS, result_doc},
    {"summary", (PyCFunction)Scanner_summary, METH_NOARGS, summary_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stella_signals.trace._ctrace.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Validates and aggregates runtime-trace lines (SPEC §2); see ADR 0008.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
    .tp_getset = Scanner_getset,
};

/* ---------------------------------------------------------------------------------------- */
/* the fuzz harness's driver                                                                 */

/* A deferred line handed back as the fuzz harness's careful parser would (every fifth): its
 * first nine characters the symbol id, the rest the container. 0 on an error (set). */
NO_COVERAGE static int fuzz_add_back(Scanner *s, PyObject *event) {
    long long line = PyLong_AsLongLong(PyTuple_GET_ITEM(event, 0));
    if (line == -1 && PyErr_Occurred()) return 0;
    PyObject *payload = PyTuple_GET_ITEM(event, 2);
    if (PyLong_AsLong(PyTuple_GET_ITEM(event, 1)) != EV_DEFER || line % 5 != 0) return 1;
    PyObject *text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(payload),
                                          PyBytes_GET_SIZE(payload), "replace");
    if (!text) return 0;
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    PyObject *head = PyUnicode_Substring(text, 0, len < 9 ? len : 9);
    PyObject *tail = head ? PyUnicode_Substring(text, len < 9 ? len : 9, len) : NULL;
    PyObject *sym = head ? PyUnicode_AsUTF8String(head) : NULL;
    PyObject *cont = tail && sym ? PyUnicode_AsUTF8String(tail) : NULL;
    PyObject *args = NULL, *done = NULL;
    if (cont) {
        PyObject *symbol = PyBytes_GET_SIZE(sym) ? Py_NewRef(sym) : PyBytes_FromString("s");
        if (symbol)
            args = Py_BuildValue("(LNyOiLOO)", line, symbol, "pkg:x",
                                 PyBytes_GET_SIZE(cont) ? cont : Py_None, 1, line, Py_None,
                                 Py_None);
    }
    if (args) done = Scanner_add(s, args);
    Py_XDECREF(text);
    Py_XDECREF(head);
    Py_XDECREF(tail);
    Py_XDECREF(sym);
    Py_XDECREF(cont);
    Py_XDECREF(args);
    Py_XDECREF(done);
    return done != NULL;
}

PyDoc_STRVAR(fuzz_scan_doc,
             "_fuzz_scan(trace, size, max_line_bytes, max_symbol_id_bytes, max_records, "
             "max_edges, split_min, threads, tally_type, unset[, lane_max_keys]) -> tuple\n\n"
             "The fuzz harness's "
             "`scan` (fuzz/fuzz_ctrace.py) without the interpreter in the loop: a Scanner fed "
             "`trace` in `size`-byte pieces (the first as bytes through feed(), the others each "
             "in an 8-byte-aligned slot of its own, ASan-poisoned around it, straight to the "
             "scan), purls good unless their length is a multiple of 3, every fifth deferred "
             "line added back; lanes on two threads (the second a long-lived one) or in turn; "
             "('limit', bool) or ('scan', lines, records, events, tallies, edges, code_ids). "
             "Not for production.");

NO_COVERAGE static PyObject *fuzz_scan(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *trace, *tally_type, *unset;
    Py_ssize_t size, max_line, max_sym, split;
    long long max_records, max_edges;
    int threads;
    long long lane_keys = -1; /* -1: the scanner's default */
    if (!PyArg_ParseTuple(args, "SnnnLLnpOO|L", &trace, &size, &max_line, &max_sym,
                          &max_records, &max_edges, &split, &threads, &tally_type, &unset,
                          &lane_keys))
        return NULL;
    if (size < 1 || split < 0 || lane_keys < -1 || lane_keys > (long long)UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "size must be positive, split_min not negative, "
                                          "lane_max_keys -1 (default) or 0..2**32-1");
        return NULL;
    }
    Scanner *s = (Scanner *)PyObject_CallFunction((PyObject *)&ScannerType, "nnLLK", max_line,
                                                  max_sym, max_records, max_edges, 0ULL);
    if (!s) return NULL;
    s->split_min = (size_t)split;
    if (lane_keys >= 0) s->lane_max_keys = (uint32_t)lane_keys;
    s->in_turn = !threads;
    s->use_worker = 1;
    PyObject *events = PyList_New(0), *out = NULL;
    const char *data = PyBytes_AS_STRING(trace);
    Py_ssize_t n = PyBytes_GET_SIZE(trace), at = 0;
    /* Every later piece gets a slot of its own in `arena`, 8-byte aligned (ASan's shadow
     * granule: both ends of a piece are then exact), poisoned again once its events are
     * settled; the slots are never reused, so a stale pointer into one is caught too. */
    size_t room = (size_t)n + 8 * ((size_t)n / (size_t)size + 2);
    char *arena = malloc(room), *held = NULL;
    size_t used = 0, held_n = 0;
    if (!arena) {
        Py_XDECREF(events);
        Py_DECREF(s);
        return PyErr_NoMemory();
    }
    POISON(arena, room);
    int last = 0;
    while (events && !last) {
        PyObject *news;
        if (held) POISON(held, held_n);
        held = NULL;
        if (at == 0 && n) {
            Py_ssize_t k = n < size ? n : size;
            PyObject *piece = PyBytes_FromStringAndSize(data, k);
            at += k;
            news = piece ? Scanner_feed(s, piece) : NULL;
            Py_XDECREF(piece);
        } else if (at < n) { /* feed() without a bytes object: a slot of the arena */
            Py_ssize_t k = n - at < size ? n - at : size;
            held = arena + used;
            held_n = (size_t)k;
            used += ((size_t)k + 7) & ~(size_t)7;
            UNPOISON(held, held_n);
            memcpy(held, data + at, (size_t)k);
            at += k;
            if (!enter(s)) goto done;
            news = after_scan(s, scan_chunk(s, held, (size_t)k));
        } else {
            last = 1;
            news = Scanner_finish(s, NULL);
        }
        if (!news) goto done;
        if (news == Py_None) {
            Py_DECREF(news);
            continue;
        }
        if (all_records(s) > max_records || all_edges(s) > max_edges) {
            Py_DECREF(news);
            out = Py_BuildValue("(sO)", "limit", all_records(s) > max_records ? Py_True : Py_False);
            goto done;
        }
        Py_ssize_t count = PyList_GET_SIZE(news);
        PyObject *good = PyList_New(count);
        for (Py_ssize_t i = 0; good && i < count; i++)
            PyList_SET_ITEM(good, i, Py_NewRef(PyUnicode_GET_LENGTH(PyList_GET_ITEM(news, i)) % 3
                                                   ? Py_True : Py_False));
        Py_DECREF(news);
        PyObject *settled = good ? Scanner_settle(s, good) : NULL;
        Py_XDECREF(good);
        if (!settled) goto done;
        int ok = 1;
        for (Py_ssize_t i = 0; ok && i < PyList_GET_SIZE(settled); i++) {
            PyObject *event = PyList_GET_ITEM(settled, i);
            ok = PyList_Append(events, event) == 0 && fuzz_add_back(s, event);
        }
        Py_DECREF(settled);
        if (!ok) goto done;
    }
    if (events) {
        PyObject *pair = Py_BuildValue("(OO)", tally_type, unset);
        PyObject *result = pair ? Scanner_result(s, pair) : NULL;
        Py_XDECREF(pair);
        if (result)
            out = Py_BuildValue("(sLLONNN)", "scan", (long long)s->lines, (long long)all_records(s),
                                events, Py_NewRef(PyTuple_GET_ITEM(result, 0)),
                                Py_NewRef(PyTuple_GET_ITEM(result, 1)),
                                Py_NewRef(PyTuple_GET_ITEM(result, 2)));
        Py_XDECREF(result);
    }
done:
    Py_XDECREF(events);
    Py_DECREF(s);
    UNPOISON(arena, room); /* as malloc gave it: free() and the allocator may write it */
    free(arena);
    return out;
}

PyDoc_STRVAR(forced_doc, "pure_python_forced() -> bool\n\nWhether STELLA_PURE_PYTHON is set "
                         "(to anything but '' or '0'): the pure-Python parser is then used.");

static PyMethodDef module_methods[] = {
    {"pure_python_forced", pure_python_forced, METH_NOARGS, forced_doc},
    {"_fuzz_scan", fuzz_scan, METH_VARARGS, fuzz_scan_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ctrace", "The compiled trace core (ADR 0008).", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ctrace(void) {
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI) return NULL;
    long page = sysconf(_SC_PAGESIZE);
    page_size = page > 0 ? (size_t)page : 4096;
    MIN_US = days_from_civil(1, 1, 1) * US_PER_DAY;
    MAX_US = days_from_civil(9999, 12, 31) * US_PER_DAY + US_PER_DAY - 1;
    if (PyType_Ready(&ScannerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
