"""Command line: ``python -m cgraph cache list | show KEY | clear | path``."""
import sys


def main(argv=None):
    from .cache_cli import main as cache_main
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "cache":
        print("usage: python -m cgraph cache {list,show,verify,prune,clear,path} ...", file=sys.stderr)
        return 2
    return cache_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
