class Logger:
    def info(self): return 1
class Printer:
    def info(self): return 2
log = Logger()
def main():
    log.info()
main()
Printer()
