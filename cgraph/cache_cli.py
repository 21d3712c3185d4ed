"""``python -m cgraph cache list | show KEY | clear | path``: look into the compile cache."""
import argparse
import json
import os
import sys

from . import cache


def main(argv):
    parser = argparse.ArgumentParser(prog="python -m cgraph cache",
                                     description="Inspect or empty cgraph's compile cache.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="one line per entry: key, function, size, compile time")
    show = sub.add_parser("show", help="an entry's C source and build information")
    show.add_argument("key", help="the entry's key or a unique prefix of it")
    show.add_argument("--meta", action="store_true", help="only the build information")
    sub.add_parser("clear", help="remove every entry")
    sub.add_parser("path", help="print the cache folder")
    args = parser.parse_args(argv)
    root = cache.cache_root()

    if args.command == "path":
        print(root)
    elif args.command == "list":
        entries = cache.list_entries(root)
        print(f"{len(entries)} entries in {root}")
        if entries:
            print(f"{'key':<18} {'function':<24} {'size':>9} {'compile s':>9}  built")
        for key, folder, build in entries:
            size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
            print(f"{key[:16]:<18} {str(build.get('function', '?'))[:24]:<24} {size:>9} "
                  f"{build.get('compile_seconds', float('nan')):>9.3f}  {build.get('built_at', '?')}")
    elif args.command == "show":
        try:
            key, folder, build = cache.find_entry(args.key, root)
        except KeyError as exc:
            print(f"cgraph cache: {exc.args[0]}", file=sys.stderr)
            return 1
        print(f"# key      {key}\n# folder   {folder}\n# function {build.get('function')}")
        print("# build    " + json.dumps({k: v for k, v in build.items() if k != "material"},
                                         indent=1).replace("\n", "\n#          "))
        if not args.meta:
            with open(os.path.join(folder, "module.c")) as f:
                print(f.read())
    elif args.command == "clear":
        removed = cache.clear(root)
        print(f"removed {removed} entries from {root}")
    return 0
