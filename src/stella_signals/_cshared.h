/*
 * What the two compiled cores (trace/_ctrace.c, ADR 0008; graph/_cgraph.c, ADR 0011) share:
 * included by each after <Python.h>, <stdint.h>, <string.h> and (Linux) <sys/mman.h>, and
 * after it defines NO_COVERAGE. Every function is static: each extension module keeps its own
 * copy, and neither exports a symbol.
 */
#ifndef STELLA_CSHARED_H
#define STELLA_CSHARED_H

#define HUGE_PAGE ((size_t)2 << 20)

/* Ask for transparent huge pages on a big table or arena: their look-ups land anywhere in
 * tens of MiB, and with 4 KiB pages nearly each one missed the TLB too (a page walk, which
 * costs more still in a virtual machine). Only a hint; Linux only. */
NO_COVERAGE static void advise_huge(void *p, size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (n < 2 * HUGE_PAGE) return;
    uintptr_t start = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (end > start) (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

/* ---------------------------------------------------------------------------------------- */
/* hashing: keyed by secrets drawn from a random seed, so that input cannot be made to collide */

NO_COVERAGE static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* 64 x 64 -> 128-bit multiply, folded: the mixing step of the hash below (as wyhash's). */
NO_COVERAGE static inline uint64_t mum(uint64_t a, uint64_t b) {
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

NO_COVERAGE static inline uint64_t read8(const void *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

NO_COVERAGE static inline uint64_t read4(const void *p) {
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

/* The secrets of a scan's hash, derived from its random seed (splitmix64), so that every
 * 16-byte block of every key is mixed with values the input's author cannot know. A hash that
 * folded the seed into its starting state only (wyhash's public constants) has collisions
 * that hold for every seed: a change to one word undone by a change to the next. */
static void derive_key(uint64_t key[3], uint64_t seed) {
    for (int i = 0; i < 3; i++) {
        seed += 0x9E3779B97F4A7C15ULL;
        key[i] = mix64(seed) | 1; /* odd: never a zero factor by itself */
    }
}

/* A keyed hash of p[0:n] in the manner of wyhash, its constants replaced by the secrets k:
 * 16 bytes per multiply (three lanes over long keys), and no byte-wise tail (the last bytes
 * are read as overlapping words, always inside p[0:n]). Equality is always checked on the
 * bytes, so the hash decides only where a key is looked for. */
NO_COVERAGE static uint64_t hash_bytes(const uint64_t k[3], const void *data, size_t n,
                                       uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h = seed ^ mum(seed ^ k[0], (uint64_t)n ^ k[1]), a, b;
    if (n <= 16) {
        if (n >= 4) {
            size_t off = (n >> 3) << 2;
            a = read4(p) << 32 | read4(p + off);
            b = read4(p + n - 4) << 32 | read4(p + n - 4 - off);
        } else if (n > 0) {
            a = (uint64_t)p[0] << 16 | (uint64_t)p[n >> 1] << 8 | p[n - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = n;
        if (i > 48) {
            uint64_t g = h, f = h;
            do {
                h = mum(read8(p) ^ k[0], read8(p + 8) ^ h);
                g = mum(read8(p + 16) ^ k[1], read8(p + 24) ^ g);
                f = mum(read8(p + 32) ^ k[2], read8(p + 40) ^ f);
                p += 48;
                i -= 48;
            } while (i > 48);
            h ^= g ^ f;
        }
        while (i > 16) {
            h = mum(read8(p) ^ k[0], read8(p + 8) ^ h);
            p += 16;
            i -= 16;
        }
        a = read8(p + i - 16);
        b = read8(p + i - 8);
    }
    return mum(k[2] ^ (uint64_t)n, mum(a ^ k[0], b ^ h));
}

/* JSON white space (RFC 8259 §2). */
static inline int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
    while (p < end && is_ws(*p)) p++;
    return p;
}

/* Whether p[0:n] is strict UTF-8 (RFC 3629: no overlong form, surrogate or code point past
 * U+10FFFF), as Python decodes it; ASCII eight bytes at a time. */
static int utf8_ok(const unsigned char *p, size_t n) {
    const unsigned char *end = p + n;
    while (p < end) {
        if ((size_t)(end - p) >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (!(w & 0x8080808080808080ULL)) {
                p += 8;
                continue;
            }
        }
        unsigned char c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            else if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            else if (c == 0xF4) hi = 0x8F;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= need) return 0;
        if (p[1] < lo || p[1] > hi) return 0;
        for (size_t i = 2; i <= need; i++)
            if ((p[i] & 0xC0) != 0x80) return 0;
        p += need + 1;
    }
    return 1;
}

/* `pure_python_forced()` of each module (its doc string says which path it forces). */
static PyObject *pure_python_forced(PyObject *m, PyObject *Py_UNUSED(ignored)) {
    (void)m;
    const char *v = getenv("STELLA_PURE_PYTHON");
    return PyBool_FromLong(v && *v && strcmp(v, "0") != 0);
}

#endif /* STELLA_CSHARED_H */
