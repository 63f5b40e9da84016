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
