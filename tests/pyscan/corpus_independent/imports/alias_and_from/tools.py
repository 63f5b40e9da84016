def build():
    return compile_step()


def compile_step():
    return 1
