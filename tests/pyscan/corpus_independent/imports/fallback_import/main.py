try:
    from fast_impl import run
except ImportError:
    from slow_impl import run


run()
