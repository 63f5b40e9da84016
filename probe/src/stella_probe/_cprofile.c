/* stella_probe._cprofile: discovery mode's profile function in C (docs/adr/0009).
 *
 * The same rules as the pure-Python profiler of _probe.py (`Probe._profiler`, which stays as
 * the fallback and the oracle of the tests), without a Python call per event:
 *
 * - only `call` events; when the duty cycle is off (`on[0]` false) the thread parks itself
 *   (the Python `park` callable: it removes this profiler and notes the thread);
 * - the callee's Symbol comes from the Python resolver once per code object, then from a
 *   cache keyed by the code object's address that holds a strong reference to it (an address
 *   is never reused while cached); barriers (code compiled from a string) are not cached, as
 *   the resolver does not cache them;
 * - skip rules (`Symbol.skip`), the generator-resume rule (`Symbol.first_lasti`), the nearest
 *   recorded caller (walking back to a RECORD or a BARRIER) unless the code is module level;
 * - counts per (Symbol, caller symbol id) with first-seen time (the Python `clock`), at most
 *   `limit` keys per thread, beyond that counted as overflow;
 * - never raising into the application: an exception is handed to the Python `fail` callable
 *   (it disables the probe and reports it); KeyboardInterrupt and other non-Exception errors
 *   propagate, as they would out of a Python profile function, which they also remove.
 *
 * Counts are read out (and reset) by `Recorder.take()`, which returns what the Python
 * profiler's `state.counts` holds: {(Symbol, caller id or None): [count, first seen]}.
 *
 * On Python 3.12+ the same rules also serve as a `sys.monitoring` PY_START callback
 * (`Recorder.py_start`, docs/adr/0009 addendum): one Recorder for every thread, the starting
 * frame from PyEval_GetFrame, DISABLE for code never recorded as a callee.
 *
 * Public C API only, per version: PyFrame_GetCode / PyFrame_GetBack (3.9+),
 * PyFrame_GetLasti / PyFrame_GetGlobals (3.11+; the frame struct before). Not for
 * free-threaded builds (the hot path relies on the GIL): those use the Python profiler.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#if PY_VERSION_HEX < 0x030B0000
#include <frameobject.h>
#endif
#include <stdint.h>

#ifdef Py_GIL_DISABLED
#error "free-threaded CPython: the pure-Python profiler serves"
#endif

enum { RECORD = 0, TRANSPARENT = 1, BARRIER = 2 };

/* One resolved code object. Allocated once, never moved or freed before its Core. */
typedef struct {
    PyObject *code;      /* strong: keeps the address unique while cached */
    PyObject *symbol;    /* strong: the resolver's Symbol */
    PyObject *symbol_id; /* strong: the canonical object for this id (the caller key) */
    int kind;
    int skip;
    int module_level;
    int has_first_lasti;
    int first_lasti;
} Entry;

static Entry barrier_entry = {NULL, NULL, NULL, BARRIER, 1, 0, 0, 0};

typedef struct {
    void *key;
    Entry *entry;
} CacheSlot;

typedef struct {
    PyObject_HEAD
    PyObject *resolve; /* Resolver.resolve(code, f_globals) -> Symbol */
    PyObject *on;      /* the probe's [bool]: is the duty cycle on */
    PyObject *fail;    /* Probe._fail(exc) */
    PyObject *park;    /* Probe._park() */
    PyObject *clock;   /* time.time */
    PyObject *canon;   /* dict: symbol id -> the one object used for it */
    Py_ssize_t limit;  /* distinct keys per thread */
    CacheSlot *slots;
    size_t mask;
    size_t used;
} Core;

typedef struct {
    PyObject *symbol; /* strong; NULL: an empty slot */
    PyObject *caller; /* strong canonical symbol id; NULL: no caller */
    long long count;
    double first;
} Count;

#define MAX_IGNORED 8

typedef struct {
    PyObject_HEAD
    Core *core;
    Count *slots; /* NULL until the first key */
    size_t mask;
    size_t used;
    long long overflow;
    PyObject *disable; /* sys.monitoring.DISABLE (the PY_START callback's answer), or NULL */
    unsigned long ignored[MAX_IGNORED]; /* the probe's own threads (PY_START callback) */
    int n_ignored;
} Recorder;

static PyTypeObject CoreType;
static PyTypeObject RecorderType;

static inline size_t
mix(uintptr_t x)
{
    uint64_t h = (uint64_t)x;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h;
}

/* -- the code cache ------------------------------------------------------------------------ */

static Entry *
cache_get(Core *c, PyObject *code)
{
    size_t i = mix((uintptr_t)code) & c->mask;
    for (;;) {
        CacheSlot *slot = &c->slots[i];
        if (slot->key == code) {
            return slot->entry;
        }
        if (slot->key == NULL) {
            return NULL;
        }
        i = (i + 1) & c->mask;
    }
}

static void
cache_place(CacheSlot *slots, size_t mask, Entry *entry)
{
    size_t i = mix((uintptr_t)entry->code) & mask;
    while (slots[i].key != NULL) {
        i = (i + 1) & mask;
    }
    slots[i].key = entry->code;
    slots[i].entry = entry;
}

static int
cache_put(Core *c, Entry *entry)
{
    if ((c->used + 1) * 2 > c->mask + 1) {
        size_t size = (c->mask + 1) * 2;
        CacheSlot *slots = PyMem_Calloc(size, sizeof(CacheSlot));
        if (slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (size_t i = 0; i <= c->mask; i++) {
            if (c->slots[i].key != NULL) {
                cache_place(slots, size - 1, c->slots[i].entry);
            }
        }
        PyMem_Free(c->slots);
        c->slots = slots;
        c->mask = size - 1;
    }
    cache_place(c->slots, c->mask, entry);
    c->used++;
    return 0;
}

static PyObject *
frame_globals(PyFrameObject *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyFrame_GetGlobals(frame);
#else
    Py_INCREF(frame->f_globals);
    return frame->f_globals;
#endif
}

/* frame.f_lasti as Python shows it */
static int
frame_lasti(PyFrameObject *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyFrame_GetLasti(frame);
#elif PY_VERSION_HEX >= 0x030A0000
    return frame->f_lasti < 0 ? -1 : frame->f_lasti * (int)sizeof(_Py_CODEUNIT);
#else
    return frame->f_lasti;
#endif
}

static int
attr_int(PyObject *obj, const char *name, int *out)
{
    PyObject *value = PyObject_GetAttrString(obj, name);
    if (value == NULL) {
        return -1;
    }
    long n = PyLong_AsLong(value);
    Py_DECREF(value);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int
attr_truth(PyObject *obj, const char *name, int *out)
{
    PyObject *value = PyObject_GetAttrString(obj, name);
    if (value == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(value);
    Py_DECREF(value);
    if (truth < 0) {
        return -1;
    }
    *out = truth;
    return 0;
}

/* The entry of a code object not in the cache: through the Python resolver. A borrowed
 * pointer (the cache's, or barrier_entry), NULL with an exception set. */
static Entry *
resolve(Core *c, PyObject *code, PyFrameObject *frame)
{
    PyObject *globals = frame_globals(frame);
    if (globals == NULL) {
        return NULL;
    }
    PyObject *symbol = PyObject_CallFunctionObjArgs(c->resolve, code, globals, NULL);
    Py_DECREF(globals);
    if (symbol == NULL) {
        return NULL;
    }
    Entry fields = {0};
    PyObject *first = NULL;
    PyObject *sid = NULL;
    if (attr_int(symbol, "kind", &fields.kind) < 0) {
        goto error;
    }
    if (fields.kind == BARRIER) {
        Py_DECREF(symbol);
        return &barrier_entry;
    }
    if (attr_truth(symbol, "skip", &fields.skip) < 0 ||
        attr_truth(symbol, "module_level", &fields.module_level) < 0) {
        goto error;
    }
    first = PyObject_GetAttrString(symbol, "first_lasti");
    if (first == NULL) {
        goto error;
    }
    if (first != Py_None) {
        long n = PyLong_AsLong(first);
        if (n == -1 && PyErr_Occurred()) {
            goto error;
        }
        fields.has_first_lasti = 1;
        fields.first_lasti = (int)n;
    }
    sid = PyObject_GetAttrString(symbol, "symbol_id");
    if (sid == NULL) {
        goto error;
    }
    PyObject *canonical = PyDict_SetDefault(c->canon, sid, sid); /* borrowed */
    if (canonical == NULL) {
        goto error;
    }
    /* the calls above may have let another thread resolve the same code */
    Entry *found = cache_get(c, code);
    if (found != NULL) {
        Py_DECREF(first);
        Py_DECREF(sid);
        Py_DECREF(symbol);
        return found;
    }
    Entry *entry = PyMem_Malloc(sizeof(Entry));
    if (entry == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    *entry = fields;
    Py_INCREF(code);
    entry->code = code;
    entry->symbol = symbol; /* the reference we hold */
    Py_INCREF(canonical);
    entry->symbol_id = canonical;
    Py_DECREF(first);
    Py_DECREF(sid);
    if (cache_put(c, entry) < 0) {
        Py_DECREF(entry->code);
        Py_DECREF(entry->symbol);
        Py_DECREF(entry->symbol_id);
        PyMem_Free(entry);
        return NULL;
    }
    return entry;
error:
    Py_XDECREF(first);
    Py_XDECREF(sid);
    Py_DECREF(symbol);
    return NULL;
}

static Entry *
entry_of(Core *c, PyFrameObject *frame)
{
    PyObject *code = (PyObject *)PyFrame_GetCode(frame);
    Entry *entry = cache_get(c, code);
    if (entry == NULL) {
        entry = resolve(c, code, frame);
    }
    Py_DECREF(code);
    return entry;
}

/* -- the counts of one thread --------------------------------------------------------------- */

static inline size_t
pair_hash(PyObject *symbol, PyObject *caller)
{
    return mix((uintptr_t)symbol ^ (mix((uintptr_t)caller) << 1));
}

/* the slot of (symbol, caller): the one holding it, else the empty one where it would go */
static Count *
find(Recorder *r, PyObject *symbol, PyObject *caller)
{
    size_t i = pair_hash(symbol, caller) & r->mask;
    for (;;) {
        Count *slot = &r->slots[i];
        if (slot->symbol == NULL || (slot->symbol == symbol && slot->caller == caller)) {
            return slot;
        }
        i = (i + 1) & r->mask;
    }
}

static int
grow(Recorder *r)
{
    size_t size = r->slots == NULL ? 64 : (r->mask + 1) * 2;
    Count *slots = PyMem_Calloc(size, sizeof(Count));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Count *old = r->slots;
    size_t old_size = old == NULL ? 0 : r->mask + 1;
    r->slots = slots;
    r->mask = size - 1;
    for (size_t i = 0; i < old_size; i++) {
        if (old[i].symbol != NULL) {
            *find(r, old[i].symbol, old[i].caller) = old[i];
        }
    }
    PyMem_Free(old);
    return 0;
}

static int
count(Recorder *r, PyObject *symbol, PyObject *caller)
{
    if (r->slots != NULL) {
        Count *slot = find(r, symbol, caller);
        if (slot->symbol != NULL) {
            slot->count++;
            return 0;
        }
    }
    if ((Py_ssize_t)r->used >= r->core->limit) {
        r->overflow++;
        return 0;
    }
    PyObject *now = PyObject_CallNoArgs(r->core->clock);
    if (now == NULL) {
        return -1;
    }
    double first = PyFloat_AsDouble(now);
    Py_DECREF(now);
    if (first == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    /* the clock is Python: look again (take() may have swapped the table meanwhile) */
    if (r->slots == NULL || (r->used + 1) * 2 > r->mask + 1) {
        if (grow(r) < 0) {
            return -1;
        }
    }
    Count *slot = find(r, symbol, caller);
    if (slot->symbol != NULL) {
        slot->count++;
        return 0;
    }
    if ((Py_ssize_t)r->used >= r->core->limit) {
        r->overflow++;
        return 0;
    }
    Py_INCREF(symbol);
    Py_XINCREF(caller);
    slot->symbol = symbol;
    slot->caller = caller;
    slot->count = 1;
    slot->first = first;
    r->used++;
    return 0;
}

/* -- the profile function --------------------------------------------------------------------- */

/* An exception is set: hand an Exception to the probe's fail (0: the application goes on);
 * anything else (KeyboardInterrupt, SystemExit) is the application's: remove this profiler
 * and let it propagate (-1), as out of a Python profile function. */
static int
failed_as(Recorder *r, int profiler)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (profiler) {
            PyEval_SetProfile(NULL, NULL);
        }
        PyErr_Clear();
        PyErr_Restore(type, value, tb);
        return -1;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL) {
        PyException_SetTraceback(value, tb);
    }
    PyObject *done = PyObject_CallFunctionObjArgs(r->core->fail, value ? value : Py_None, NULL);
    int foreign = 0;
    if (done == NULL) {
        PyErr_Clear(); /* already failing: the application must go on */
    } else {
        foreign = PyObject_IsTrue(done);
        if (foreign < 0) {
            PyErr_Clear();
            foreign = 0;
        }
    }
    Py_XDECREF(done);
    if (foreign) {
        /* the application's own exception (its code ran meanwhile, e.g. a signal handler):
         * it reaches the application, as out of a Python profile function */
        if (profiler) {
            PyEval_SetProfile(NULL, NULL);
        }
        PyErr_Clear();
        PyErr_Restore(type, value, tb);
        return -1;
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return 0;
}

static int
failed(Recorder *r)
{
    return failed_as(r, 1);
}

/* The nearest recorded caller of `frame` (borrowed canonical id into *caller, NULL: none):
 * walking back over transparent frames to a RECORD, stopping at a BARRIER. -1: an error. */
static int
caller_of(Core *c, PyFrameObject *frame, PyObject **caller)
{
    *caller = NULL;
    PyFrameObject *back = PyFrame_GetBack(frame);
    while (back != NULL) {
        Entry *found = entry_of(c, back);
        if (found == NULL) {
            Py_DECREF(back);
            return -1;
        }
        if (found->kind == RECORD) {
            *caller = found->symbol_id;
            break;
        }
        if (found->kind == BARRIER) {
            break;
        }
        PyFrameObject *next = PyFrame_GetBack(back);
        Py_DECREF(back);
        back = next;
    }
    Py_XDECREF(back);
    return 0;
}

static int
on_call(Recorder *r, PyFrameObject *frame)
{
    Core *c = r->core;
    if (c == NULL || c->slots == NULL) { /* a core cleared by the collector: nothing to do */
        return 0;
    }
    PyObject *on = PyList_GET_SIZE(c->on) > 0 ? PyList_GET_ITEM(c->on, 0) : Py_False;
    if (on != Py_True) {
        int truth = PyObject_IsTrue(on);
        if (truth < 0) {
            return failed(r);
        }
        if (!truth) {
            PyObject *done = PyObject_CallNoArgs(c->park);
            if (done == NULL) {
                return failed(r);
            }
            Py_DECREF(done);
            return 0;
        }
    }
    Entry *entry = entry_of(c, frame);
    if (entry == NULL) {
        return failed(r);
    }
    if (entry->skip) { /* the standard library, the probe, a comprehension, a barrier... */
        return 0;
    }
    if (entry->has_first_lasti && frame_lasti(frame) != entry->first_lasti) {
        return 0; /* a generator or coroutine resumed, not called */
    }
    PyObject *caller = NULL; /* borrowed: the Core's canonical id */
    if (!entry->module_level && caller_of(c, frame, &caller) < 0) {
        return failed(r);
    }
    if (count(r, entry->symbol, caller) < 0) {
        return failed(r);
    }
    return 0;
}

static int
profile(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)arg;
    if (what != PyTrace_CALL) {
        return 0;
    }
    Recorder *r = (Recorder *)obj;
    Py_INCREF(r); /* park or fail may uninstall us: stay alive until the end */
    int result = on_call(r, frame);
    Py_DECREF(r);
    return result;
}

/* -- the sys.monitoring PY_START callback (Python 3.12+) ---------------------------------- */

/* PY_START comes once per call, and for a generator or coroutine only when its body first
 * starts (resumptions are PY_RESUME): no `first_lasti` rule, no duty-cycle check (the probe
 * turns the event off). Code never recorded as a callee (the standard library, the probe,
 * comprehensions, barriers) answers DISABLE: the interpreter then stops calling for it. One
 * table for every thread: the GIL serialises the callbacks, and `count` finds its slot again
 * after the one Python call it makes (the clock). */
static PyObject *
started(Recorder *r, PyObject *code, PyFrameObject *frame)
{
    Core *c = r->core;
    Entry *entry = cache_get(c, code);
    if (entry == NULL) {
        entry = resolve(c, code, frame);
        if (entry == NULL) {
            goto error;
        }
    }
    if (entry->skip) {
        if (r->disable != NULL) {
            Py_INCREF(r->disable);
            return r->disable;
        }
        Py_RETURN_NONE;
    }
    if (r->n_ignored > 0) {
        unsigned long me = PyThread_get_thread_ident();
        for (int i = 0; i < r->n_ignored; i++) {
            if (r->ignored[i] == me) {
                Py_RETURN_NONE;
            }
        }
    }
    PyObject *caller = NULL; /* borrowed: the Core's canonical id */
    if (!entry->module_level && caller_of(c, frame, &caller) < 0) {
        goto error;
    }
    if (count(r, entry->symbol, caller) < 0) {
        goto error;
    }
    Py_RETURN_NONE;
error:
    if (failed_as(r, 0) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
recorder_py_start(Recorder *r, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "py_start(code, instruction_offset)");
        return NULL;
    }
    Core *c = r->core;
    if (c == NULL || c->slots == NULL) { /* a core cleared by the collector: nothing to do */
        Py_RETURN_NONE;
    }
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed: the frame starting */
    if (frame == NULL) {
        Py_RETURN_NONE;
    }
    Py_INCREF(r); /* fail may unregister us: stay alive until the end */
    Py_INCREF(frame);
    PyObject *result = started(r, args[0], frame);
    Py_DECREF(frame);
    Py_DECREF(r);
    return result;
}

static PyObject *
recorder_ignore(Recorder *r, PyObject *ident)
{
    unsigned long value = PyLong_AsUnsignedLong(ident);
    if (value == (unsigned long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    if (r->n_ignored >= MAX_IGNORED) {
        PyErr_SetString(PyExc_ValueError, "ignore: too many threads");
        return NULL;
    }
    r->ignored[r->n_ignored++] = value;
    Py_RETURN_NONE;
}

/* -- Core --------------------------------------------------------------------------------- */

static PyObject *
core_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"resolve", "on", "limit", "fail", "park", "clock", NULL};
    PyObject *resolve, *on, *fail, *park, *clock;
    Py_ssize_t limit;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO!nOOO:Core", names, &resolve,
                                     &PyList_Type, &on, &limit, &fail, &park, &clock)) {
        return NULL;
    }
    if (PyList_GET_SIZE(on) < 1 || limit < 1) {
        PyErr_SetString(PyExc_ValueError, "Core: on must be a [bool], limit at least 1");
        return NULL;
    }
    Core *c = (Core *)type->tp_alloc(type, 0);
    if (c == NULL) {
        return NULL;
    }
    c->slots = PyMem_Calloc(256, sizeof(CacheSlot));
    c->canon = PyDict_New();
    if (c->slots == NULL || c->canon == NULL) {
        Py_DECREF(c);
        return PyErr_NoMemory();
    }
    c->mask = 255;
    c->limit = limit;
    Py_INCREF(resolve);
    c->resolve = resolve;
    Py_INCREF(on);
    c->on = on;
    Py_INCREF(fail);
    c->fail = fail;
    Py_INCREF(park);
    c->park = park;
    Py_INCREF(clock);
    c->clock = clock;
    return (PyObject *)c;
}

static int
core_traverse(Core *c, visitproc visit, void *arg)
{
    Py_VISIT(c->resolve);
    Py_VISIT(c->on);
    Py_VISIT(c->fail);
    Py_VISIT(c->park);
    Py_VISIT(c->clock);
    Py_VISIT(c->canon);
    if (c->slots != NULL) {
        for (size_t i = 0; i <= c->mask; i++) {
            if (c->slots[i].key != NULL) {
                Py_VISIT(c->slots[i].entry->code);
                Py_VISIT(c->slots[i].entry->symbol);
            }
        }
    }
    return 0;
}

static int
core_clear(Core *c)
{
    Py_CLEAR(c->resolve);
    Py_CLEAR(c->fail);
    Py_CLEAR(c->park);
    Py_CLEAR(c->clock);
    if (c->slots != NULL) {
        CacheSlot *slots = c->slots;
        size_t size = c->mask + 1;
        c->slots = NULL;
        c->mask = 0;
        c->used = 0;
        for (size_t i = 0; i < size; i++) {
            Entry *entry = slots[i].entry;
            if (slots[i].key != NULL) {
                Py_DECREF(entry->code);
                Py_DECREF(entry->symbol);
                Py_DECREF(entry->symbol_id);
                PyMem_Free(entry);
            }
        }
        PyMem_Free(slots);
    }
    Py_CLEAR(c->canon);
    Py_CLEAR(c->on);
    return 0;
}

static void
core_dealloc(Core *c)
{
    PyObject_GC_UnTrack(c);
    core_clear(c);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *
core_len(Core *c, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(c->used);
}

static PyMethodDef core_methods[] = {
    {"cached", (PyCFunction)core_len, METH_NOARGS, "How many code objects are cached."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "stella_probe._cprofile.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Core(resolve, on, limit, fail, park, clock): what every thread's Recorder of "
              "one probe shares (the resolver's symbols cached by code object).",
    .tp_new = core_new,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_methods = core_methods,
};

/* -- Recorder ----------------------------------------------------------------------------- */

static PyObject *
recorder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"core", "disable", NULL};
    PyObject *core;
    PyObject *disable = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!|O:Recorder", names, &CoreType, &core,
                                     &disable)) {
        return NULL;
    }
    if (((Core *)core)->slots == NULL) {
        PyErr_SetString(PyExc_ValueError, "Recorder: the core is cleared");
        return NULL;
    }
    Recorder *r = (Recorder *)type->tp_alloc(type, 0);
    if (r == NULL) {
        return NULL;
    }
    Py_INCREF(core);
    r->core = (Core *)core;
    if (disable != NULL && disable != Py_None) {
        Py_INCREF(disable);
        r->disable = disable;
    }
    return (PyObject *)r;
}

static void
release_counts(Count *slots, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (slots[i].symbol != NULL) {
            Py_DECREF(slots[i].symbol);
            Py_XDECREF(slots[i].caller);
        }
    }
    PyMem_Free(slots);
}

/* Detach the table first: the dict building below may run other threads' Python code */
static PyObject *
recorder_take(Recorder *r, PyObject *Py_UNUSED(ignored))
{
    Count *slots = r->slots;
    size_t size = slots == NULL ? 0 : r->mask + 1;
    long long overflow = r->overflow;
    r->slots = NULL;
    r->mask = 0;
    r->used = 0;
    r->overflow = 0;
    PyObject *counts = PyDict_New();
    if (counts == NULL) {
        goto error;
    }
    for (size_t i = 0; i < size; i++) {
        Count *slot = &slots[i];
        if (slot->symbol == NULL) {
            continue;
        }
        PyObject *key = PyTuple_Pack(2, slot->symbol, slot->caller ? slot->caller : Py_None);
        PyObject *value = Py_BuildValue("[Ld]", slot->count, slot->first);
        int bad = key == NULL || value == NULL || PyDict_SetItem(counts, key, value) < 0;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (bad) {
            goto error;
        }
    }
    if (slots != NULL) {
        release_counts(slots, size);
    }
    PyObject *result = Py_BuildValue("(NL)", counts, overflow);
    return result;
error:
    Py_XDECREF(counts);
    if (slots != NULL) {
        release_counts(slots, size);
    }
    return NULL;
}

static PyObject *
recorder_install(Recorder *r, PyObject *Py_UNUSED(ignored))
{
    PyEval_SetProfile(profile, (PyObject *)r);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* the Python profile function's signature: for a thread's first event (the bootstrap), and
 * for whoever re-installs what sys.getprofile() returned */
static PyObject *
recorder_call(Recorder *r, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"frame", "event", "arg", NULL};
    PyObject *frame, *event, *arg;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!UO:Recorder", names, &PyFrame_Type,
                                     &frame, &event, &arg)) {
        return NULL;
    }
    if (PyUnicode_CompareWithASCIIString(event, "call") != 0) {
        Py_RETURN_NONE;
    }
    Py_INCREF(r);
    int result = on_call(r, (PyFrameObject *)frame);
    Py_DECREF(r);
    if (result < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
recorder_traverse(Recorder *r, visitproc visit, void *arg)
{
    Py_VISIT(r->core);
    Py_VISIT(r->disable);
    if (r->slots != NULL) {
        for (size_t i = 0; i <= r->mask; i++) {
            if (r->slots[i].symbol != NULL) {
                Py_VISIT(r->slots[i].symbol);
                Py_VISIT(r->slots[i].caller);
            }
        }
    }
    return 0;
}

static int
recorder_clear(Recorder *r)
{
    if (r->slots != NULL) {
        Count *slots = r->slots;
        size_t size = r->mask + 1;
        r->slots = NULL;
        r->mask = 0;
        r->used = 0;
        release_counts(slots, size);
    }
    Py_CLEAR(r->disable);
    Py_CLEAR(r->core);
    return 0;
}

static void
recorder_dealloc(Recorder *r)
{
    PyObject_GC_UnTrack(r);
    recorder_clear(r);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyMethodDef recorder_methods[] = {
    {"install", (PyCFunction)recorder_install, METH_NOARGS,
     "Make this the calling thread's profile function (PyEval_SetProfile)."},
    {"py_start", (PyCFunction)(void (*)(void))recorder_py_start, METH_FASTCALL,
     "The sys.monitoring PY_START callback: (code, instruction_offset) -> DISABLE or None."},
    {"ignore", (PyCFunction)recorder_ignore, METH_O,
     "py_start records nothing for the thread of this ident (the probe's own threads)."},
    {"take", (PyCFunction)recorder_take, METH_NOARGS,
     "({(Symbol, caller id or None): [count, first seen]}, calls not recorded), and reset."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "stella_probe._cprofile.Recorder",
    .tp_basicsize = sizeof(Recorder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Recorder(core, disable=None): one thread's compiled profile function and its "
              "counts, or (py_start) every thread's sys.monitoring PY_START callback.",
    .tp_new = recorder_new,
    .tp_call = (ternaryfunc)recorder_call,
    .tp_traverse = (traverseproc)recorder_traverse,
    .tp_clear = (inquiry)recorder_clear,
    .tp_dealloc = (destructor)recorder_dealloc,
    .tp_methods = recorder_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "stella_probe._cprofile",
    .m_doc = "Discovery mode's compiled profile function (the Python one is the fallback).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__cprofile(void)
{
    if (PyType_Ready(&CoreType) < 0 || PyType_Ready(&RecorderType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&RecorderType);
    if (PyModule_AddObject(m, "Recorder", (PyObject *)&RecorderType) < 0) {
        Py_DECREF(&RecorderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
