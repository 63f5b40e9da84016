/*
 * The compiled graph-import core (ADR 0011): the edges of a richgraph-v1 document, scanned in C.
 *
 * `scan_edges(ids, edges, seed)` takes the node ids (in their numbering) and the raw JSON text
 * of the `edges` array, and gives each edge's two node numbers and one "attribute set" number
 * (kind, purl, confidence and evidence, interned by their raw bytes), plus each distinct set's
 * raw members and how many edges use it. It accepts only what it can read exactly: strict JSON
 * of an array of objects, each with the members from and to (strings equal byte for byte to a
 * node id) and optionally kind, purl (strings), confidence (a number token) and evidence (an
 * array, skipped by its brackets); no backslash anywhere, no duplicate or other member; UTF-8
 * throughout. Anything else -- an unknown endpoint, a duplicate key, an escape, a stray byte, a
 * byte sequence that is not UTF-8, a table look-up longer than `max_probes` slots -- gives None,
 * and the caller takes its pure-Python path, which says what (if anything) is wrong. The values
 * of the distinct sets are not checked here: Python decodes each distinct set once (the number
 * grammar and range, the evidence's JSON), as its own path would. The hash tables are keyed by
 * secrets drawn from the caller's random seed, so that a document cannot be made to collide.
 *
 * Memory: the copied ids and their table, three 32-bit columns per edge, the distinct sets.
 * The table build and the scan run without the GIL. Nothing here decides what a problem says.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#if defined(__clang__) && __clang_major__ >= 13
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

#include "../_cshared.h" /* advise_huge, skip_ws, utf8_ok, pure_python_forced */

#define TAG(h) ((h) & 0xFFFFFFFF00000000ULL)
#define MAX_ITEMS ((size_t)UINT32_MAX - 1) /* node, edge and set numbers fit 32 bits */
#define MAX_DEPTH 64                       /* evidence nesting read here; deeper: None */
/* Slots a look-up or an insertion may step past in a table (linear probing, at most half
 * full) before the scan declines (None: the pure-Python path reads the document). With keys
 * hashed at random the longest run stays far below it (about 50 at 2^25 keys), so it costs
 * nothing to an honest document and bounds the work one made to collide can cause. */
#define MAX_PROBES 128

enum { M_KIND, M_PURL, M_CONFIDENCE, M_EVIDENCE, NM };

/* The secrets of one scan's hash (`derive_key`, `hash_bytes`: _cshared.h). */
typedef struct {
    uint64_t k[3];
} Secrets;

static Secrets secrets_of(uint64_t seed) {
    Secrets s;
    derive_key(s.k, seed);
    return s;
}

/* A growable array of 32-bit numbers. */
typedef struct {
    uint32_t *p;
    size_t len, cap;
} U32s;

static int u32_push(U32s *v, uint32_t x) {
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        uint32_t *p = realloc(v->p, cap * sizeof(uint32_t));
        if (!p) return 0;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->len++] = x;
    return 1;
}

/* One distinct attribute set: each member's raw value as an offset and length into the edges
 * text (length 0: absent; a present value is never empty). */
typedef struct {
    uint64_t hash;
    size_t off[NM];
    size_t len[NM];
    uint64_t uses;
} Set;

/* A slot of the node-id table: one cache line's half. The id's first HEAD bytes live in the
 * slot, so a look-up of a short id reads nothing else; a longer one compares the rest in the
 * arena. */
#define HEAD 20
typedef struct {
    uint32_t tag;  /* high 32 bits of the id's hash */
    uint32_t node; /* 1 + node number; 0: empty */
    uint32_t len;
    unsigned char head[HEAD];
} Slot;

/* An endpoint read but not yet looked up: look-ups go in batches, each slot prefetched when
 * its id is read, so that the cache misses of a batch overlap instead of following in turn. */
#define BATCH 32
typedef struct {
    const unsigned char *id;
    size_t len;
    uint64_t hash;
    size_t edge; /* the edge whose `to` it is */
} Pending;

typedef struct {
    uint64_t seed;
    Secrets key;       /* the hash's secrets, from the seed */
    size_t max_probes; /* slots a look-up may step past before the scan declines */
    /* node ids: bytes back to back, offsets (n + 1), open-addressing table of slots */
    unsigned char *arena;
    size_t *offs;
    size_t nids;
    Slot *itab;
    size_t imask;
    /* distinct sets and their table (tag | 1 + set number) */
    Set *sets;
    size_t nsets, setcap;
    uint64_t *stab;
    size_t smask;
    U32s from, to, attrs;
    Pending pending[BATCH];
    int npending;
    /* the last edge's from id: edges come grouped by caller, as a rule */
    const unsigned char *last_from;
    size_t last_from_len;
    int64_t last_from_node;
    const unsigned char *base;
    int nomem;
} Graph;

static void graph_free(Graph *g) {
    free(g->arena);
    free(g->offs);
    free(g->itab);
    free(g->sets);
    free(g->stab);
    free(g->from.p);
    free(g->to.p);
    free(g->attrs.p);
}

static size_t table_size(size_t items) {
    size_t size = 16;
    while (size < items * 2) size *= 2;
    return size;
}

/* Whether slot e holds the id that is the n bytes at p (whose hash has tag `tag`). */
static inline int slot_is(const Graph *g, const Slot *e, uint32_t tag, const unsigned char *p,
                          size_t n) {
    if (e->tag != tag || e->len != n) return 0;
    if (n <= HEAD) return memcmp(e->head, p, n) == 0;
    return memcmp(e->head, p, HEAD) == 0 &&
           memcmp(g->arena + g->offs[e->node - 1] + HEAD, p + HEAD, n - HEAD) == 0;
}

/* The node ids' table; 0 when out of memory, -1 when a run of slots is too long (the scan
 * declines). Duplicate ids: the first one is found. */
static int build_ids(Graph *g) {
    size_t size = table_size(g->nids);
    g->itab = calloc(size, sizeof(Slot));
    if (!g->itab) return 0;
    advise_huge(g->itab, size * sizeof(Slot));
    g->imask = size - 1;
    for (size_t i = 0; i < g->nids; i++) {
        const unsigned char *p = g->arena + g->offs[i];
        size_t n = g->offs[i + 1] - g->offs[i];
        uint64_t h = hash_bytes(g->key.k, p, n, g->seed);
        uint32_t tag = (uint32_t)(h >> 32);
        size_t j = h & g->imask;
        int dup = 0;
        size_t probes = 0;
        while (g->itab[j].node) {
            if (slot_is(g, &g->itab[j], tag, p, n)) {
                dup = 1;
                break;
            }
            if (++probes > g->max_probes) return -1;
            j = (j + 1) & g->imask;
        }
        if (dup) continue;
        Slot *e = &g->itab[j];
        e->tag = tag;
        e->node = (uint32_t)(i + 1);
        e->len = (uint32_t)n; /* ids are shorter than the document, itself < 4 GiB here */
        memcpy(e->head, p, n < HEAD ? n : HEAD);
    }
    return 1;
}

/* The number of the node whose id is the n bytes at p (hash h), or -1: none, or not found
 * within g->max_probes slots (either way the scan declines). */
static int64_t find_id(const Graph *g, const unsigned char *p, size_t n, uint64_t h) {
    uint32_t tag = (uint32_t)(h >> 32);
    size_t j = h & g->imask, probes = 0;
    while (g->itab[j].node) {
        if (slot_is(g, &g->itab[j], tag, p, n)) return (int64_t)g->itab[j].node - 1;
        if (++probes > g->max_probes) return -1;
        j = (j + 1) & g->imask;
    }
    return -1;
}

NO_COVERAGE static uint64_t set_hash(const Graph *g, const size_t *off, const size_t *len) {
    uint64_t h = g->seed ^ 0x2545F4914F6CDD1DULL;
    for (int m = 0; m < NM; m++)
        h = mix64(h ^ (len[m] ? hash_bytes(g->key.k, g->base + off[m], len[m], g->seed + (uint64_t)m + 1)
                              : 0x9E3779B97F4A7C15ULL * (uint64_t)(m + 1)));
    return h;
}

static int set_equal(const Graph *g, const Set *s, const size_t *off, const size_t *len) {
    for (int m = 0; m < NM; m++) {
        if (s->len[m] != len[m]) return 0;
        if (len[m] && memcmp(g->base + s->off[m], g->base + off[m], len[m]) != 0) return 0;
    }
    return 1;
}

/* Room for twice the sets, and their table rebuilt: 1; 0 when out of memory, -1 when a run
 * of slots is too long (the scan declines). */
static int grow_sets(Graph *g) {
    size_t cap = g->setcap ? g->setcap * 2 : 64;
    Set *sets = realloc(g->sets, cap * sizeof(Set));
    if (!sets) return 0;
    g->sets = sets;
    g->setcap = cap;
    size_t size = table_size(cap);
    uint64_t *t = calloc(size, sizeof(uint64_t));
    if (!t) return 0;
    for (size_t i = 0; i < g->nsets; i++) {
        size_t j = g->sets[i].hash & (size - 1), probes = 0;
        while (t[j]) {
            if (++probes > g->max_probes) {
                free(t);
                return -1;
            }
            j = (j + 1) & (size - 1);
        }
        t[j] = TAG(g->sets[i].hash) | (uint64_t)(i + 1);
    }
    free(g->stab);
    g->stab = t;
    g->smask = size - 1;
    return 1;
}

/* The number of the set with these members (a new one when unseen); -1: none left (out of
 * memory sets g->nomem; too many sets, or a run of more than g->max_probes slots, does not). */
static int64_t intern_set(Graph *g, const size_t *off, const size_t *len) {
    uint64_t h = set_hash(g, off, len);
    if (g->stab) {
        size_t j = h & g->smask, probes = 0;
        while (g->stab[j]) {
            uint64_t slot = g->stab[j];
            size_t k = (size_t)(slot & 0xFFFFFFFFu) - 1;
            if (TAG(slot) == TAG(h) && set_equal(g, &g->sets[k], off, len)) {
                g->sets[k].uses++;
                return (int64_t)k;
            }
            if (++probes > g->max_probes) return -1;
            j = (j + 1) & g->smask;
        }
    }
    if (g->nsets >= MAX_ITEMS) return -1;
    if (g->nsets == g->setcap) {
        int grown = grow_sets(g);
        if (grown <= 0) {
            g->nomem = grown == 0;
            return -1;
        }
    }
    Set *s = &g->sets[g->nsets];
    s->hash = h;
    memcpy(s->off, off, sizeof(s->off));
    memcpy(s->len, len, sizeof(s->len));
    s->uses = 1;
    size_t j = h & g->smask, probes = 0;
    while (g->stab[j]) {
        if (++probes > g->max_probes) return -1;
        j = (j + 1) & g->smask;
    }
    g->stab[j] = TAG(h) | (uint64_t)(g->nsets + 1);
    return (int64_t)g->nsets++;
}

/* ---------------------------------------------------------------------------------------- */
/* the scan                                                                                  */

/* The end of the string whose opening quote is at p (just past its closing quote), or NULL. */
static inline const unsigned char *string_end(const unsigned char *p, const unsigned char *end) {
    const unsigned char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
    return q ? q + 1 : NULL;
}

static int is_number_byte(unsigned char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* The end of the array or object that opens at p (matched brackets, strings skipped), or NULL
 * when it does not close or nests deeper than MAX_DEPTH. What lies between is not checked. */
static const unsigned char *value_end(const unsigned char *p, const unsigned char *end) {
    unsigned char stack[MAX_DEPTH];
    int depth = 0;
    while (p < end) {
        unsigned char c = *p;
        if (c == '"') {
            p = string_end(p, end);
            if (!p) return NULL;
            continue;
        }
        if (c == '[' || c == '{') {
            if (depth == MAX_DEPTH) return NULL;
            stack[depth++] = c == '[' ? ']' : '}';
        } else if (c == ']' || c == '}') {
            if (depth == 0 || stack[depth - 1] != c) return NULL;
            if (--depth == 0) return p + 1;
        }
        p++;
    }
    return NULL;
}

static int key_is(const unsigned char *k, size_t n, const char *name) {
    return n == strlen(name) && memcmp(k, name, n) == 0;
}

/* Look the pending `to` ids up; 0 when one is no node's. */
static int flush(Graph *g) {
    for (int i = 0; i < g->npending; i++) {
        const Pending *e = &g->pending[i];
        int64_t node = find_id(g, e->id, e->len, e->hash);
        if (node < 0) return 0;
        g->to.p[e->edge] = (uint32_t)node;
    }
    g->npending = 0;
    return 1;
}

/* One edge object opening at *pp; 1 and *pp past it when read, 0 when not. */
static int read_edge(Graph *g, const unsigned char **pp, const unsigned char *end) {
    const unsigned char *p = skip_ws(*pp + 1, end);
    int64_t from = -1;
    const unsigned char *to_id = NULL;
    size_t to_len = 0;
    uint64_t to_hash = 0;
    size_t off[NM] = {0}, len[NM] = {0};
    unsigned seen = 0;
    for (;;) {
        if (p >= end || *p != '"') return 0;
        const unsigned char *k = p + 1, *q = string_end(p, end);
        if (!q) return 0;
        size_t kn = (size_t)(q - 1 - k);
        p = skip_ws(q, end);
        if (p >= end || *p != ':') return 0;
        p = skip_ws(p + 1, end);
        if (p >= end) return 0;
        int member;
        if (key_is(k, kn, "from")) member = NM;
        else if (key_is(k, kn, "to")) member = NM + 1;
        else if (key_is(k, kn, "kind")) member = M_KIND;
        else if (key_is(k, kn, "purl")) member = M_PURL;
        else if (key_is(k, kn, "confidence")) member = M_CONFIDENCE;
        else if (key_is(k, kn, "evidence")) member = M_EVIDENCE;
        else return 0;
        if (seen & (1u << member)) return 0; /* a duplicate key */
        seen |= 1u << member;
        const unsigned char *v = p;
        if (member >= NM || member == M_KIND || member == M_PURL) {
            if (*p != '"') return 0;
            p = string_end(p, end);
            if (!p) return 0;
            if (member >= NM) {
                const unsigned char *id = v + 1;
                size_t n = (size_t)(p - 1 - id);
                if (member == NM + 1) { /* to: looked up with its batch (`flush`) */
                    to_id = id;
                    to_len = n;
                    to_hash = hash_bytes(g->key.k, id, n, g->seed);
                    __builtin_prefetch(&g->itab[to_hash & g->imask]);
                    goto next;
                }
                if (g->last_from && n == g->last_from_len && memcmp(id, g->last_from, n) == 0) {
                    from = g->last_from_node;
                } else {
                    from = find_id(g, id, n, hash_bytes(g->key.k, id, n, g->seed));
                    if (from < 0) return 0; /* an unknown endpoint (or not a node id's bytes) */
                    g->last_from = id;
                    g->last_from_len = n;
                    g->last_from_node = from;
                }
                goto next;
            }
        } else if (member == M_CONFIDENCE) {
            while (p < end && is_number_byte(*p)) p++;
            if (p == v) return 0;
        } else {
            if (*p != '[') return 0;
            p = value_end(p, end);
            if (!p) return 0;
        }
        off[member] = (size_t)(v - g->base);
        len[member] = (size_t)(p - v);
    next:
        p = skip_ws(p, end);
        if (p >= end) return 0;
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (*p != '}') return 0;
        p++;
        break;
    }
    if (from < 0 || !to_id) return 0;
    if (g->attrs.len >= MAX_ITEMS) return 0;
    int64_t set = intern_set(g, off, len);
    if (set < 0) return 0;
    if (!u32_push(&g->from, (uint32_t)from) || !u32_push(&g->to, 0) ||
        !u32_push(&g->attrs, (uint32_t)set)) {
        g->nomem = 1;
        return 0;
    }
    Pending *pending = &g->pending[g->npending++];
    pending->id = to_id;
    pending->len = to_len;
    pending->hash = to_hash;
    pending->edge = g->to.len - 1;
    if (g->npending == BATCH && !flush(g)) return 0;
    *pp = p;
    return 1;
}

/* The whole edges array: 1 when every edge was read. */
static int scan(Graph *g, const unsigned char *p, size_t n) {
    const unsigned char *end = p + n;
    g->base = p;
    if (memchr(p, '\\', n) || !utf8_ok(p, n)) return 0;
    int built = build_ids(g);
    if (built <= 0) {
        g->nomem = built == 0;
        return 0;
    }
    p = skip_ws(p, end);
    if (p >= end || *p != '[') return 0;
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']') return skip_ws(p + 1, end) == end;
    for (;;) {
        if (p >= end || *p != '{' || !read_edge(g, &p, end)) return 0;
        p = skip_ws(p, end);
        if (p >= end) return 0;
        if (*p == ']') return skip_ws(p + 1, end) == end && flush(g);
        if (*p != ',') return 0;
        p = skip_ws(p + 1, end);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Python                                                                                    */

/* Copy the ids (str) into g's arena as UTF-8; 0 with an exception set. */
static int copy_ids(Graph *g, PyObject *ids) {
    Py_ssize_t n = PyList_GET_SIZE(ids);
    if ((size_t)n > MAX_ITEMS) {
        PyErr_SetString(PyExc_OverflowError, "too many node ids");
        return 0;
    }
    size_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *id = PyList_GET_ITEM(ids, i);
        if (!PyUnicode_Check(id)) {
            PyErr_SetString(PyExc_TypeError, "node ids must be str");
            return 0;
        }
        Py_ssize_t size;
        if (!PyUnicode_AsUTF8AndSize(id, &size)) return 0;
        total += (size_t)size;
    }
    g->arena = malloc(total ? total : 1);
    g->offs = malloc(((size_t)n + 1) * sizeof(size_t));
    if (!g->arena || !g->offs) {
        PyErr_NoMemory();
        return 0;
    }
    size_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t size;
        const char *utf8 = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(ids, i), &size);
        if (!utf8) return 0;
        if (at + (size_t)size > total) { /* cannot happen: the list is ours for the call */
            PyErr_SetString(PyExc_RuntimeError, "node ids changed while read");
            return 0;
        }
        g->offs[i] = at;
        memcpy(g->arena + at, utf8, (size_t)size);
        at += (size_t)size;
    }
    g->offs[n] = at;
    g->nids = (size_t)n;
    return 1;
}

static PyObject *u32_bytes(const U32s *v) {
    return PyBytes_FromStringAndSize(v->p ? (const char *)v->p : "", (Py_ssize_t)(v->len * 4));
}

static PyObject *result(const Graph *g) {
    PyObject *sets = PyList_New((Py_ssize_t)g->nsets);
    PyObject *uses = PyList_New((Py_ssize_t)g->nsets);
    if (!sets || !uses) goto fail;
    for (size_t i = 0; i < g->nsets; i++) {
        const Set *s = &g->sets[i];
        PyObject *members = PyTuple_New(NM);
        if (!members) goto fail;
        PyList_SET_ITEM(sets, (Py_ssize_t)i, members);
        for (int m = 0; m < NM; m++) {
            PyObject *value;
            if (s->len[m]) {
                value = PyBytes_FromStringAndSize((const char *)g->base + s->off[m],
                                                  (Py_ssize_t)s->len[m]);
                if (!value) goto fail;
            } else {
                value = Py_NewRef(Py_None);
            }
            PyTuple_SET_ITEM(members, m, value);
        }
        PyObject *used = PyLong_FromUnsignedLongLong(s->uses);
        if (!used) goto fail;
        PyList_SET_ITEM(uses, (Py_ssize_t)i, used);
    }
    PyObject *from = u32_bytes(&g->from), *to = u32_bytes(&g->to), *attrs = u32_bytes(&g->attrs);
    if (!from || !to || !attrs) {
        Py_XDECREF(from);
        Py_XDECREF(to);
        Py_XDECREF(attrs);
        goto fail;
    }
    return Py_BuildValue("(NNNNN)", from, to, attrs, sets, uses);
fail:
    Py_XDECREF(sets);
    Py_XDECREF(uses);
    return NULL;
}

PyDoc_STRVAR(scan_edges_doc,
             "scan_edges(ids, edges, seed, max_probes=128) -> (from, to, attrs, sets, uses) | None\n\n"
             "The edges array `edges` (a buffer of its raw JSON) read against the node ids `ids`\n"
             "(a list of str, in node-number order): per edge its from and to node numbers and\n"
             "its attribute set number (native 32-bit unsigned, as bytes); per distinct set its\n"
             "raw (kind, purl, confidence, evidence) bytes or None, and how many edges use it.\n"
             "None when the text is not one this scan reads exactly (the caller then takes the\n"
             "pure-Python path): also when the text is not UTF-8, or a look-up in a table steps past\n"
             "more than `max_probes` slots (default 128). `seed` keys the hash tables.");

static PyObject *scan_edges(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *ids;
    Py_buffer buf;
    unsigned long long seed;
    Py_ssize_t max_probes = MAX_PROBES;
    if (!PyArg_ParseTuple(args, "O!y*K|n:scan_edges", &PyList_Type, &ids, &buf, &seed,
                          &max_probes))
        return NULL;
    if (max_probes < 0) {
        PyErr_SetString(PyExc_ValueError, "scan_edges: max_probes must be >= 0");
        PyBuffer_Release(&buf);
        return NULL;
    }
    Graph g;
    memset(&g, 0, sizeof(g));
    g.seed = seed;
    g.key = secrets_of(seed);
    g.max_probes = (size_t)max_probes;
    PyObject *out = NULL;
    if (copy_ids(&g, ids)) {
        int read;
        Py_BEGIN_ALLOW_THREADS
        read = scan(&g, buf.buf, (size_t)buf.len);
        Py_END_ALLOW_THREADS
        if (g.nomem) PyErr_NoMemory();
        else if (read) out = result(&g);
        else out = Py_NewRef(Py_None);
    }
    graph_free(&g);
    PyBuffer_Release(&buf);
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* canonical edge order and text                                                             */

/* A buffer argument of 32-bit numbers; 0 with an exception set when its size is no multiple
 * of 4 or not `want` numbers (want < 0: any count). */
static int u32_view(Py_buffer *b, Py_ssize_t want, const char *what) {
    if (b->len % 4 != 0 || (want >= 0 && b->len / 4 != want)) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd 32-bit numbers", what, want);
        return 0;
    }
    return 1;
}

/* One stable counting-sort pass of idx (n positions) by 16-bit digit `shift` of key[]. */
static void radix_pass(const uint32_t *key, int shift, const uint32_t *idx, uint32_t *out,
                       size_t n, size_t *counts) {
    memset(counts, 0, 65537 * sizeof(size_t));
    for (size_t i = 0; i < n; i++) counts[((key[idx[i]] >> shift) & 0xFFFF) + 1]++;
    for (size_t d = 0; d < 65536; d++) counts[d + 1] += counts[d];
    for (size_t i = 0; i < n; i++) out[counts[(key[idx[i]] >> shift) & 0xFFFF]++] = idx[i];
}

PyDoc_STRVAR(edge_order_doc,
             "edge_order(edge_from, edge_to, edge_attrs, kind_rank) -> (order, ties)\n\n"
             "Edge positions sorted by (from, to, kind rank of the attribute set), ties in input\n"
             "order (a stable sort); `ties` lists each i > 0 whose edge has the same key as the\n"
             "one before it. Arguments and `order`: native 32-bit unsigned numbers.");

static PyObject *edge_order(PyObject *m, PyObject *args) {
    (void)m;
    Py_buffer fb, tb, ab, kb;
    if (!PyArg_ParseTuple(args, "y*y*y*y*:edge_order", &fb, &tb, &ab, &kb)) return NULL;
    PyObject *out = NULL, *ties = NULL, *order = NULL;
    uint32_t *tmp = NULL, *kinds = NULL;
    size_t *counts = NULL;
    Py_ssize_t n = fb.len / 4;
    if (!u32_view(&fb, -1, "edge_from") || !u32_view(&tb, n, "edge_to") ||
        !u32_view(&ab, n, "edge_attrs") || !u32_view(&kb, -1, "kind_rank"))
        goto done;
    const uint32_t *from = fb.buf, *to = tb.buf, *attrs = ab.buf, *rank = kb.buf;
    size_t nkinds = (size_t)kb.len / 4;
    for (Py_ssize_t i = 0; i < n; i++)
        if (attrs[i] >= nkinds) {
            PyErr_SetString(PyExc_ValueError, "an attribute set without a kind rank");
            goto done;
        }
    order = PyBytes_FromStringAndSize(NULL, n * 4);
    tmp = malloc((size_t)n * 4 + 4);
    kinds = malloc((size_t)n * 4 + 4);
    counts = malloc(65537 * sizeof(size_t));
    if (!order || !tmp || !kinds || !counts) {
        if (order) PyErr_NoMemory();
        goto done;
    }
    uint32_t *idx = (uint32_t *)PyBytes_AS_STRING(order);
    Py_BEGIN_ALLOW_THREADS
    uint32_t maxk = 0, maxt = 0, maxf = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        idx[i] = (uint32_t)i;
        kinds[i] = rank[attrs[i]];
        if (kinds[i] > maxk) maxk = kinds[i];
        if (to[i] > maxt) maxt = to[i];
        if (from[i] > maxf) maxf = from[i];
    }
    /* least significant key first; a pass whose digit is 0 everywhere changes nothing */
    const uint32_t *keys[3] = {kinds, to, from};
    uint32_t maxes[3] = {maxk, maxt, maxf};
    for (int k = 0; k < 3; k++)
        for (int shift = 0; shift < 32 && (maxes[k] >> shift) != 0; shift += 16) {
            radix_pass(keys[k], shift, idx, tmp, (size_t)n, counts);
            memcpy(idx, tmp, (size_t)n * 4);
        }
    Py_END_ALLOW_THREADS
    ties = PyList_New(0);
    if (!ties) goto done;
    for (Py_ssize_t i = 1; i < n; i++) {
        uint32_t a = idx[i - 1], b = idx[i];
        if (from[a] == from[b] && to[a] == to[b] && kinds[a] == kinds[b]) {
            PyObject *at = PyLong_FromSsize_t(i);
            if (!at || PyList_Append(ties, at) < 0) {
                Py_XDECREF(at);
                goto done;
            }
            Py_DECREF(at);
        }
    }
    out = Py_BuildValue("(OO)", order, ties);
done:
    Py_XDECREF(order);
    Py_XDECREF(ties);
    free(tmp);
    free(kinds);
    free(counts);
    PyBuffer_Release(&fb);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&ab);
    PyBuffer_Release(&kb);
    return out;
}

PyDoc_STRVAR(permuted_doc, "permuted(values, order) -> bytes\n\n"
                           "values[order[i]] for each i (native 32-bit unsigned numbers).");

static PyObject *permuted(PyObject *m, PyObject *args) {
    (void)m;
    Py_buffer vb, ob;
    if (!PyArg_ParseTuple(args, "y*y*:permuted", &vb, &ob)) return NULL;
    PyObject *out = NULL;
    if (u32_view(&vb, -1, "values") && u32_view(&ob, -1, "order")) {
        const uint32_t *values = vb.buf, *order = ob.buf;
        size_t n = (size_t)ob.len / 4, nv = (size_t)vb.len / 4;
        int ok = 1;
        for (size_t i = 0; i < n; i++)
            if (order[i] >= nv) ok = 0;
        if (!ok) {
            PyErr_SetString(PyExc_ValueError, "an order past the values");
        } else if ((out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n * 4))) {
            uint32_t *p = (uint32_t *)PyBytes_AS_STRING(out);
            for (size_t i = 0; i < n; i++) p[i] = values[order[i]];
        }
    }
    PyBuffer_Release(&vb);
    PyBuffer_Release(&ob);
    return out;
}

/* The UTF-8 of each str in `items` (borrowed: the list keeps them); 0 with an exception. */
static int utf8_items(PyObject *items, const char ***text, Py_ssize_t **len) {
    Py_ssize_t n = PyList_GET_SIZE(items);
    *text = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(char *));
    *len = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Py_ssize_t));
    if (!*text || !*len) {
        PyErr_NoMemory();
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyUnicode_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "expected a list of str");
            return 0;
        }
        (*text)[i] = PyUnicode_AsUTF8AndSize(item, &(*len)[i]);
        if (!(*text)[i]) return 0;
    }
    return 1;
}

PyDoc_STRVAR(edge_text_doc,
             "edge_text(ids, pre, mid, edge_from, edge_to, edge_attrs, start, stop) -> bytes\n\n"
             "The canonical text of edges start..stop, each ',' + pre[a] + ids[from] + mid[a] +\n"
             "ids[to] + '\"}' (a: its attribute set), without the first comma when start is 0.");

static PyObject *edge_text(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *ids, *pre, *mid, *out = NULL;
    Py_buffer fb, tb, ab;
    Py_ssize_t start, stop;
    if (!PyArg_ParseTuple(args, "O!O!O!y*y*y*nn:edge_text", &PyList_Type, &ids, &PyList_Type,
                          &pre, &PyList_Type, &mid, &fb, &tb, &ab, &start, &stop))
        return NULL;
    const char **idt = NULL, **pret = NULL, **midt = NULL;
    Py_ssize_t *idn = NULL, *pren = NULL, *midn = NULL;
    Py_ssize_t n = fb.len / 4;
    if (!u32_view(&fb, -1, "edge_from") || !u32_view(&tb, n, "edge_to") ||
        !u32_view(&ab, n, "edge_attrs"))
        goto done;
    if (start < 0 || stop < start || stop > n || PyList_GET_SIZE(pre) != PyList_GET_SIZE(mid)) {
        PyErr_SetString(PyExc_ValueError, "edge_text: bad range or attribute texts");
        goto done;
    }
    if (!utf8_items(ids, &idt, &idn) || !utf8_items(pre, &pret, &pren) ||
        !utf8_items(mid, &midt, &midn))
        goto done;
    const uint32_t *from = fb.buf, *to = tb.buf, *attrs = ab.buf;
    size_t nids = (size_t)PyList_GET_SIZE(ids), nsets = (size_t)PyList_GET_SIZE(pre);
    size_t size = 0;
    for (Py_ssize_t i = start; i < stop; i++) {
        if (from[i] >= nids || to[i] >= nids || attrs[i] >= nsets) {
            PyErr_SetString(PyExc_ValueError, "edge_text: a number past its table");
            goto done;
        }
        size += 3 + (size_t)pren[attrs[i]] + (size_t)idn[from[i]] + (size_t)midn[attrs[i]] +
                (size_t)idn[to[i]];
    }
    if (start == 0 && stop > 0) size--;
    if (size > (size_t)PY_SSIZE_T_MAX || !(out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size))) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto done;
    }
    char *p = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = start; i < stop; i++) {
        uint32_t a = attrs[i];
        if (i) *p++ = ',';
        memcpy(p, pret[a], (size_t)pren[a]);
        p += pren[a];
        memcpy(p, idt[from[i]], (size_t)idn[from[i]]);
        p += idn[from[i]];
        memcpy(p, midt[a], (size_t)midn[a]);
        p += midn[a];
        memcpy(p, idt[to[i]], (size_t)idn[to[i]]);
        p += idn[to[i]];
        *p++ = '"';
        *p++ = '}';
    }
done:
    PyMem_Free(idt);
    PyMem_Free(idn);
    PyMem_Free(pret);
    PyMem_Free(pren);
    PyMem_Free(midt);
    PyMem_Free(midn);
    PyBuffer_Release(&fb);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&ab);
    return out;
}

/* A growable byte buffer for join_rows. */
typedef struct {
    char *p;
    size_t len, cap;
} Bytes;

static int bytes_put(Bytes *b, const char *p, size_t n) {
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (n > cap - b->len) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            PyErr_NoMemory();
            return 0;
        }
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    return 1;
}

static int put_str(Bytes *b, PyObject *s) {
    if (!PyUnicode_Check(s)) {
        PyErr_SetString(PyExc_TypeError, "join_rows: an item that is not str");
        return 0;
    }
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    return u && bytes_put(b, u, (size_t)n);
}

PyDoc_STRVAR(join_rows_doc,
             "join_rows(columns, start, stop) -> bytes\n\n"
             "Rows start..stop of `columns`, each row the UTF-8 of its columns' parts in turn. A\n"
             "column is a str (the same in every row), a list of str (item i in row i), or a\n"
             "tuple (head, values, tail): head + values[i] + tail, or nothing where values[i]\n"
             "is None. Every list must hold at least `stop` items.");

static PyObject *join_rows(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *columns;
    Py_ssize_t start, stop;
    if (!PyArg_ParseTuple(args, "O!nn:join_rows", &PyList_Type, &columns, &start, &stop))
        return NULL;
    Py_ssize_t ncols = PyList_GET_SIZE(columns);
    if (start < 0 || stop < start) {
        PyErr_SetString(PyExc_ValueError, "join_rows: bad range");
        return NULL;
    }
    for (Py_ssize_t c = 0; c < ncols; c++) {
        PyObject *col = PyList_GET_ITEM(columns, c);
        PyObject *values = col;
        if (PyTuple_Check(col)) {
            if (PyTuple_GET_SIZE(col) != 3 || !PyUnicode_Check(PyTuple_GET_ITEM(col, 0)) ||
                !PyUnicode_Check(PyTuple_GET_ITEM(col, 2))) {
                PyErr_SetString(PyExc_TypeError, "join_rows: a tuple column is (str, list, str)");
                return NULL;
            }
            values = PyTuple_GET_ITEM(col, 1);
        } else if (PyUnicode_Check(col)) {
            continue;
        }
        if (!PyList_Check(values) || PyList_GET_SIZE(values) < stop) {
            PyErr_SetString(PyExc_ValueError, "join_rows: a column shorter than the rows");
            return NULL;
        }
    }
    Bytes b = {NULL, 0, 0};
    for (Py_ssize_t i = start; i < stop; i++) {
        for (Py_ssize_t c = 0; c < ncols; c++) {
            PyObject *col = PyList_GET_ITEM(columns, c);
            int ok;
            if (PyUnicode_Check(col)) {
                ok = put_str(&b, col);
            } else if (PyList_Check(col)) {
                /* a list may have shrunk only if Python code ran: none runs here */
                ok = i < PyList_GET_SIZE(col) && put_str(&b, PyList_GET_ITEM(col, i));
            } else {
                PyObject *values = PyTuple_GET_ITEM(col, 1);
                if (i >= PyList_GET_SIZE(values)) {
                    ok = 0;
                } else {
                    PyObject *v = PyList_GET_ITEM(values, i);
                    ok = v == Py_None || (put_str(&b, PyTuple_GET_ITEM(col, 0)) &&
                                          put_str(&b, v) && put_str(&b, PyTuple_GET_ITEM(col, 2)));
                }
            }
            if (!ok) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "join_rows: a column changed");
                free(b.p);
                return NULL;
            }
        }
    }
    PyObject *out = PyBytes_FromStringAndSize(b.p ? b.p : "", (Py_ssize_t)b.len);
    free(b.p);
    return out;
}

PyDoc_STRVAR(table_hash_doc, "table_hash(data, seed) -> int\n\n"
                             "The keyed hash by which scan_edges(..., seed) places the bytes `data`"
                             " in its tables\n(the node ids under `seed`): for tests.");

static PyObject *table_hash(PyObject *m, PyObject *args) {
    (void)m;
    Py_buffer buf;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "y*K:table_hash", &buf, &seed)) return NULL;
    Secrets key = secrets_of(seed);
    uint64_t h = hash_bytes(key.k, buf.buf, (size_t)buf.len, seed);
    PyBuffer_Release(&buf);
    return PyLong_FromUnsignedLongLong(h);
}

PyDoc_STRVAR(forced_doc, "pure_python_forced() -> bool\n\nWhether STELLA_PURE_PYTHON is set "
                         "(to anything but '' or '0'): the pure-Python import path is then used.");

static PyMethodDef module_methods[] = {
    {"scan_edges", scan_edges, METH_VARARGS, scan_edges_doc},
    {"edge_order", edge_order, METH_VARARGS, edge_order_doc},
    {"permuted", permuted, METH_VARARGS, permuted_doc},
    {"edge_text", edge_text, METH_VARARGS, edge_text_doc},
    {"join_rows", join_rows, METH_VARARGS, join_rows_doc},
    {"pure_python_forced", pure_python_forced, METH_NOARGS, forced_doc},
    {"table_hash", table_hash, METH_VARARGS, table_hash_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cgraph", "The compiled graph-import core (ADR 0011).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cgraph(void) { return PyModule_Create(&module); }
