def util_fn():
    return "util"
