import pkg.sub.leaf
import pkg.sub.leaf as leaf_alias


def main():
    pkg.sub.leaf.grow()
    leaf_alias.grow()


main()
