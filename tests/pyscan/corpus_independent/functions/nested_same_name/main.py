def outer():
    def work(): return 1
    return work()
def other():
    def work(): return 2
    return 0
def work(): return 3
outer(); other()
