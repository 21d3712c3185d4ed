"""Command line: ``python -m cgraph cache list | show KEY | verify | prune | clear | path |
warm SCRIPT | prebuild``; the ``cgraph-cache`` console script is the same without the word
``cache``."""
import os
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "cache":
        print("usage: python -m cgraph cache "
              "{list,show,verify,prune,clear,path,warm,prebuild} ...", file=sys.stderr)
        return 2
    return cache_command(argv[1:])


def cache_command(argv=None):
    """``cgraph-cache list | show KEY | ...``; output cut short by a closed pipe (``| head``)
    ends quietly, as for other command line tools."""
    from .cache.cli import main as cache_main
    try:
        code = cache_main(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Python would report the failed flush at exit: point stdout at /dev/null first
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
