/*
 * The compiled graph-import core (ADR 0011): the edges of a richgraph-v1 document, scanned in C.
 *
 * `scan_edges(ids, edges, seed)` takes the node ids (in their numbering) and the raw JSON text
 * of the `edges` array, and gives each edge's two node numbers and one "attribute set" number
 * (kind, purl, confidence and evidence, interned by their raw bytes), plus each distinct set's
 * raw members and how many edges use it. It accepts only what it can read exactly: strict JSON
 * of an array of objects, each with the members from and to (strings equal byte for byte to a
 * node id) and optionally kind, purl (strings), confidence (a number token) and evidence (an
 * array, skipped by its brackets); no backslash anywhere, no duplicate or other member. Anything
 * else -- an unknown endpoint, a duplicate key, an escape, a stray byte -- gives None, and the
 * caller takes its pure-Python path, which says what (if anything) is wrong. The values of the
 * distinct sets are not checked here: Python decodes each distinct set once (UTF-8, the number
 * grammar and range, the evidence's JSON), as its own path would.
 *
 * Memory: the copied ids and their table, three 32-bit columns per edge, the distinct sets.
 * The table build and the scan run without the GIL. Nothing here decides what a problem says.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__clang__) && __clang_major__ >= 13
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

#define TAG(h) ((h) & 0xFFFFFFFF00000000ULL)
#define MAX_ITEMS ((size_t)UINT32_MAX - 1) /* node, edge and set numbers fit 32 bits */
#define MAX_DEPTH 64                       /* evidence nesting read here; deeper: None */

enum { M_KIND, M_PURL, M_CONFIDENCE, M_EVIDENCE, NM };

NO_COVERAGE static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

NO_COVERAGE static uint64_t hash_bytes(const unsigned char *p, size_t n, uint64_t seed) {
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = rotl(h ^ (w * 0x87c37b91114253d5ULL), 31) * 0x4cf5ad432745937fULL;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    if (n) memcpy(&w, p, n);
    h = rotl(h ^ (w * 0x87c37b91114253d5ULL), 31) * 0x4cf5ad432745937fULL;
    return mix64(h);
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

typedef struct {
    uint64_t seed;
    /* node ids: bytes back to back, offsets (n + 1), open-addressing table of
     * hash tag (high 32 bits) | 1 + node number */
    unsigned char *arena;
    size_t *offs;
    size_t nids;
    uint64_t *itab;
    size_t imask;
    /* distinct sets and their table (tag | 1 + set number) */
    Set *sets;
    size_t nsets, setcap;
    uint64_t *stab;
    size_t smask;
    U32s from, to, attrs;
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

/* The node ids' table; 0 when out of memory. Duplicate ids: the first one is found. */
static int build_ids(Graph *g) {
    size_t size = table_size(g->nids);
    g->itab = calloc(size, sizeof(uint64_t));
    if (!g->itab) return 0;
    g->imask = size - 1;
    for (size_t i = 0; i < g->nids; i++) {
        const unsigned char *p = g->arena + g->offs[i];
        size_t n = g->offs[i + 1] - g->offs[i];
        uint64_t h = hash_bytes(p, n, g->seed);
        size_t j = h & g->imask;
        int dup = 0;
        while (g->itab[j]) {
            uint64_t slot = g->itab[j];
            size_t k = (size_t)(slot & 0xFFFFFFFFu) - 1;
            if (TAG(slot) == TAG(h) && g->offs[k + 1] - g->offs[k] == n &&
                memcmp(g->arena + g->offs[k], p, n) == 0) {
                dup = 1;
                break;
            }
            j = (j + 1) & g->imask;
        }
        if (!dup) g->itab[j] = TAG(h) | (uint64_t)(i + 1);
    }
    return 1;
}

/* The number of the node whose id is the n bytes at p, or -1. */
static int64_t find_id(const Graph *g, const unsigned char *p, size_t n) {
    uint64_t h = hash_bytes(p, n, g->seed);
    size_t j = h & g->imask;
    while (g->itab[j]) {
        uint64_t slot = g->itab[j];
        size_t k = (size_t)(slot & 0xFFFFFFFFu) - 1;
        if (TAG(slot) == TAG(h) && g->offs[k + 1] - g->offs[k] == n &&
            memcmp(g->arena + g->offs[k], p, n) == 0)
            return (int64_t)k;
        j = (j + 1) & g->imask;
    }
    return -1;
}

NO_COVERAGE static uint64_t set_hash(const Graph *g, const size_t *off, const size_t *len) {
    uint64_t h = g->seed ^ 0x2545F4914F6CDD1DULL;
    for (int m = 0; m < NM; m++)
        h = mix64(h ^ (len[m] ? hash_bytes(g->base + off[m], len[m], g->seed + (uint64_t)m + 1)
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
        size_t j = g->sets[i].hash & (size - 1);
        while (t[j]) j = (j + 1) & (size - 1);
        t[j] = TAG(g->sets[i].hash) | (uint64_t)(i + 1);
    }
    free(g->stab);
    g->stab = t;
    g->smask = size - 1;
    return 1;
}

/* The number of the set with these members (a new one when unseen); -1: none left (out of
 * memory sets g->nomem, too many sets does not). */
static int64_t intern_set(Graph *g, const size_t *off, const size_t *len) {
    uint64_t h = set_hash(g, off, len);
    if (g->stab) {
        size_t j = h & g->smask;
        while (g->stab[j]) {
            uint64_t slot = g->stab[j];
            size_t k = (size_t)(slot & 0xFFFFFFFFu) - 1;
            if (TAG(slot) == TAG(h) && set_equal(g, &g->sets[k], off, len)) {
                g->sets[k].uses++;
                return (int64_t)k;
            }
            j = (j + 1) & g->smask;
        }
    }
    if (g->nsets >= MAX_ITEMS) return -1;
    if (g->nsets == g->setcap && !grow_sets(g)) {
        g->nomem = 1;
        return -1;
    }
    Set *s = &g->sets[g->nsets];
    s->hash = h;
    memcpy(s->off, off, sizeof(s->off));
    memcpy(s->len, len, sizeof(s->len));
    s->uses = 1;
    size_t j = h & g->smask;
    while (g->stab[j]) j = (j + 1) & g->smask;
    g->stab[j] = TAG(h) | (uint64_t)(g->nsets + 1);
    return (int64_t)g->nsets++;
}

/* ---------------------------------------------------------------------------------------- */
/* the scan                                                                                  */

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

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

/* One edge object opening at *pp; 1 and *pp past it when read, 0 when not. */
static int read_edge(Graph *g, const unsigned char **pp, const unsigned char *end) {
    const unsigned char *p = skip_ws(*pp + 1, end);
    int64_t ends[2] = {-1, -1};
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
                int64_t node = find_id(g, v + 1, (size_t)(p - 1 - (v + 1)));
                if (node < 0) return 0; /* an unknown endpoint (or not a node id's bytes) */
                ends[member - NM] = node;
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
    if (ends[0] < 0 || ends[1] < 0) return 0;
    if (g->attrs.len >= MAX_ITEMS) return 0;
    int64_t set = intern_set(g, off, len);
    if (set < 0) return 0;
    if (!u32_push(&g->from, (uint32_t)ends[0]) || !u32_push(&g->to, (uint32_t)ends[1]) ||
        !u32_push(&g->attrs, (uint32_t)set)) {
        g->nomem = 1;
        return 0;
    }
    *pp = p;
    return 1;
}

/* The whole edges array: 1 when every edge was read. */
static int scan(Graph *g, const unsigned char *p, size_t n) {
    const unsigned char *end = p + n;
    g->base = p;
    if (memchr(p, '\\', n)) return 0;
    if (!build_ids(g)) {
        g->nomem = 1;
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
        if (*p == ']') return skip_ws(p + 1, end) == end;
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
             "scan_edges(ids, edges, seed) -> (from, to, attrs, sets, uses) | None\n\n"
             "The edges array `edges` (a buffer of its raw JSON) read against the node ids `ids`\n"
             "(a list of str, in node-number order): per edge its from and to node numbers and\n"
             "its attribute set number (native 32-bit unsigned, as bytes); per distinct set its\n"
             "raw (kind, purl, confidence, evidence) bytes or None, and how many edges use it.\n"
             "None when the text is not one this scan reads exactly (the caller then takes the\n"
             "pure-Python path). `seed` keys the hash tables.");

static PyObject *scan_edges(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *ids;
    Py_buffer buf;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "O!y*K:scan_edges", &PyList_Type, &ids, &buf, &seed))
        return NULL;
    Graph g;
    memset(&g, 0, sizeof(g));
    g.seed = seed;
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

PyDoc_STRVAR(forced_doc, "pure_python_forced() -> bool\n\nWhether STELLA_PURE_PYTHON is set "
                         "(to anything but '' or '0'): the pure-Python import path is then used.");

static PyObject *pure_python_forced(PyObject *m, PyObject *Py_UNUSED(ignored)) {
    (void)m;
    const char *v = getenv("STELLA_PURE_PYTHON");
    return PyBool_FromLong(v && *v && strcmp(v, "0") != 0);
}

static PyMethodDef module_methods[] = {
    {"scan_edges", scan_edges, METH_VARARGS, scan_edges_doc},
    {"pure_python_forced", pure_python_forced, METH_NOARGS, forced_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cgraph", "The compiled graph-import core (ADR 0011).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cgraph(void) { return PyModule_Create(&module); }
