import registry
import plugins


def main():
    plugins.install()
    registry.call_all()


main()
