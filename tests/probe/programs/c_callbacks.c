/* A thread C starts, calling back into Python TIMES times (as C extensions' worker threads
 * and ctypes callbacks do): each call gets a thread state, and thread-local data, of its own
 * (PyGILState_Ensure). Built by tests/probe/test_safety.py. */
#include <pthread.h>

typedef void (*callback_t)(void);

static callback_t target;
static int times;

static void *
run(void *unused)
{
    (void)unused;
    for (int i = 0; i < times; i++) {
        target();
    }
    return 0;
}

int
call_from_a_c_thread(callback_t callback, int n)
{
    pthread_t thread;
    target = callback;
    times = n;
    if (pthread_create(&thread, 0, run, 0) != 0) {
        return -1;
    }
    return pthread_join(thread, 0);
}
