"""``python -m cgraph cache list | show KEY | verify | prune | clear | path | warm SCRIPT |
prebuild | retune``: look after the compile cache. Nothing here but ``warm`` (which runs the
script it is given), ``prebuild`` and ``retune`` (which load the runtime library) loads a
module or unpickles anything: it reads JSON and files."""
import argparse
import json
import os
import re
import sys
import threading
import time

from .. import cache, runtime_library
from ..cache_files import BadFile, read_regular
from ..compile import fastcall

_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_AGE_UNITS = {"": 86400, "D": 86400, "H": 3600, "M": 60, "S": 1}


def parse_size(text):
    """'500M', '2G', '1.5g', '300k', '1024' (bytes) -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(I?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 500M, 2G or 100000")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])


def parse_age(text):
    """'30' or '30d' (days), '12h', '0.5' -> seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([dhms]?)\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 30 (days), 30d or 12h")
    return float(match.group(1)) * _AGE_UNITS[match.group(2).upper()]


def human(n):
    """A byte count for people: 512B, 1.5K, 3.2M, 1.0G."""
    for unit in ("B", "K", "M", "G"):
        if abs(n) < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024


def main(argv: list[str]) -> int:
    """Run ``python -m cgraph cache`` with the arguments ``argv``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m cgraph cache",
                                     description="Inspect, check or trim cgraph's compile cache.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="one line per entry: key, function, size, compile time, use")
    show = sub.add_parser("show", help="an entry's C source and build information")
    show.add_argument("key", nargs="?", help="the entry's key or a unique prefix of it; "
                                             "without one, the kernel variants chosen per CPU")
    show.add_argument("--meta", action="store_true", help="only the build information")
    verify = sub.add_parser("verify", help="re-check every entry's files against its manifest "
                                           "and every record against its checksum; move "
                                           "broken ones to quarantine/")
    verify.add_argument("--report-only", action="store_true", help="do not move anything")
    prune = sub.add_parser("prune", help="remove old or least recently used entries, and "
                                         "leftovers of killed builds")
    prune.add_argument("--max-size", type=parse_size, metavar="S",
                       help="keep at most S of entries (e.g. 500M, 2G), dropping the least "
                            "recently used")
    prune.add_argument("--older-than", type=parse_age, metavar="D",
                       help="drop entries not used for D days (e.g. 30, or 12h)")
    prune.add_argument("--dry-run", action="store_true", help="only say what would go")
    sub.add_parser("clear", help="remove every entry")
    sub.add_parser("path", help="print the cache folder")
    warm = sub.add_parser(
        "warm", help="run a Python script so that every function it compiles is in the cache "
                     "(then copy the cache folder where no compiler is installed)")
    warm.add_argument("script", help="the script to run (as `python SCRIPT ARGS...` would)")
    warm.add_argument("script_args", nargs=argparse.REMAINDER, help="its arguments")
    prebuild = sub.add_parser(
        "prebuild", help="build the runtime library and the call-path extension into the "
                         "cache now (what `pip install` ships; for a source checkout)")
    prebuild.add_argument("--into", metavar="DIR", help="write them as shipped units into "
                          "DIR instead (see CGRAPH_PREBUILT_DIR)")
    sub.add_parser("retune", help="time the small-GEMM tiles again now (on a quiet machine: "
                                  "a choice timed under load is otherwise kept)")
    args = parser.parse_args(argv)
    root = cache.cache_root()

    try:
        return _COMMANDS[args.command](args, root)
    except cache.CacheTrustError as exc:
        print(f"cgraph cache: {exc}", file=sys.stderr)
        return 2


def _path(args, root):
    print(root)
    return 0


def _list(args, root):
    entries = list(cache.iter_entries(root))
    print(f"{len(entries)} entries in {root}")
    if entries:
        print(f"{'key':<18} {'function':<24} {'size':>8} {'compile s':>9}  {'built':<19}  "
              f"last used")
    total = 0
    for entry in entries:
        build, size = entry.build, entry.size
        total += size
        seconds = build.get("compile_seconds")
        seconds = f"{seconds:9.3f}" if isinstance(seconds, (int, float)) else f"{'?':>9}"
        used = time.strftime("%Y-%m-%d", time.localtime(entry.last_used))
        abi = "" if entry.abi == sys.implementation.cache_tag else f"  ({entry.abi})"
        print(f"{entry.key[:16]:<18} {str(build.get('function', '?'))[:24]:<24} "
              f"{human(size):>8} {seconds}  {str(build.get('built_at', '?')):<19}  {used}{abi}")
    if entries:
        print(f"total {human(total)}")
    return 0


def _show(args, root):
    if args.key is None:
        return _show_tuning(root)
    try:
        key, folder, build = cache.find_entry(args.key, root)
    except KeyError as exc:
        print(f"cgraph cache: {exc.args[0]}", file=sys.stderr)
        return 1
    print(f"# key      {key}\n# folder   {folder}\n# function {build.get('function')}")
    print("# build    " + json.dumps({k: v for k, v in build.items() if k != "material"},
                                     indent=1).replace("\n", "\n#          "))
    if not args.meta:
        try:
            print(read_regular(os.path.join(folder, "module.c")).decode(errors="replace"))
        except (OSError, BadFile) as exc:
            print(f"cgraph cache: cannot read module.c: {exc}", file=sys.stderr)
            return 1
    return 0


def _show_tuning(root):
    """The small-GEMM variants measured for each CPU and runtime library (cgraph/gemm_tuning.py)."""
    from .. import gemm_tuning
    found = gemm_tuning.records(root)
    print(f"{len(found)} kernel choices in {root} (small-GEMM tiles, timed per CPU on first use or shipped with the prebuilt units)")
    for path, record in found:
        if not isinstance(record, BadFile) and not isinstance(record, dict):
            record = BadFile(path, "is not a record")
        if isinstance(record, BadFile):
            print(f"{os.path.basename(path)}: broken ({record.why}); measured again on next use")
            continue
        print(f"{os.path.basename(path)}: runtime {str(record.get('runtime'))[:16]}, "
              f"{gemm_tuning.describe(record)}")
        for dtype, choice in sorted(record.get("choice", {}).items()):
            scores = ", ".join(f"{n} {s:.2f}" for n, s in sorted(choice["scores"].items(),
                                                                  key=lambda item: item[1]))
            print(f"  {dtype}: time relative to the fastest (geometric mean): {scores}")
            for kind, skinny in sorted(choice.get("skinny", {}).items()):
                ratios = ", ".join(f"{n} {s:.2f}" for n, s in sorted(skinny["vs_blas"].items(),
                                                                      key=lambda item: item[1]))
                print(f"    skinny ({kind} <= 32): {skinny['variant'] or 'BLAS'}; time relative "
                      f"to BLAS: {ratios}")
            for table, rows in (choice.get("by_m") or {}).items():
                if rows:
                    other = gemm_tuning.rows_text(gemm_tuning.by_m_overrides(choice, table))
                    print(f"    tile per row count ({table}, timed in {rows['rounds']} rounds): "
                          + (f"the kind's tile but{other}" if other else "the kind's tile"))
            for form, narrow in sorted(choice.get("narrow", {}).items()):
                ratios = ", ".join(f"{shape} {r:.2f}" for shape, r in narrow["vs_blas"].items())
                print(f"    narrow ({form} form): from {narrow['from']} multiply-adds (None: "
                      f"BLAS); the kernel's time relative to BLAS's: {ratios}")
    return 0


def _verify(args, root):
    checked, bad = cache.verify(root, quarantine=not args.report_only)
    for folder, problems, moved in bad:
        print(f"BAD {folder}")
        for problem in problems:
            print(f"    {problem}")
        if moved:
            print(f"    moved to {moved}")
    print(f"checked {checked} entries in {root}: {checked - len(bad)} sound, {len(bad)} broken")
    records, bad_records = cache.verify_records(root, quarantine=not args.report_only)
    for path, problem, moved in bad_records:
        print(f"BAD {path}\n    it {problem}")
        if moved:
            print(f"    moved to {moved}")
    print(f"checked {records} records (pre-keys, templates, compiler probes): "
          f"{records - len(bad_records)} sound, {len(bad_records)} broken")
    return 1 if bad or bad_records else 0


def _prune(args, root):
    report = cache.prune(root, max_size=args.max_size, older_than=args.older_than,
                         dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for path in report["removed"]:
        print(f"{verb} {path}")
    for path in report["leftovers"]:
        print(f"{verb} leftover {path}")
    print(f"{verb} {len(report['removed'])} entries and {len(report['leftovers'])} leftovers, "
          f"{human(report['freed'])}; kept {report['kept']} entries, "
          f"{human(report['kept_size'])}")
    return 0


def _warm(args, root):
    """Run the script here, so its functions are compiled into (or found in) the cache, and
    make sure the cache holds the compiler description a process without a compiler needs
    to find them (see cgraph/cache/compiler.py)."""
    import runpy
    before = dict(cache.stats)
    saved_argv = sys.argv
    sys.argv = [args.script, *args.script_args]
    try:
        runpy.run_path(args.script, run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            print(f"cgraph cache: {args.script} exited with {exc.code}", file=sys.stderr)
            return exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved_argv
    try:
        cache.toolchain(root, build=True)
    except cache.CompilerMissing:
        pass        # everything was in the cache already, with its description
    built = cache.stats["builds"] - before["builds"]
    found = cache.stats["disk_hits"] - before["disk_hits"]
    print(f"warmed {root}: {built} modules built, {found} found already; copy this folder "
          f"(owned by the user who will run the program) and point CGRAPH_CACHE_DIR at it",
          file=sys.stderr)
    return 0


def _fill_cache() -> dict:
    """Load (building on a miss) both units into the cache, at once, and compile every
    template into it; {kind: key}."""
    from .. import prebuilt
    found, errors = {}, []

    def one(kind, get):
        try:
            found[kind] = get().key
        except Exception as exc:   # noqa: BLE001 - raised again below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=("runtime", runtime_library.runtime)),
               threading.Thread(target=one, args=("extension", fastcall.extension_entry))]
    for t in threads:
        t.start()
    prebuilt.compile_templates()     # meanwhile: the Python side of a first function()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return found


def _prebuild(args, root):
    from .. import prebuilt
    started = time.perf_counter()
    try:
        keys = prebuilt.build(args.into) if args.into else _fill_cache()
    except (cache.CompilerMissing, cache.CompileError) as exc:
        print(f"cgraph cache: {exc}", file=sys.stderr)
        return 1
    print(f"{'built into ' + args.into if args.into else 'in ' + root}: "
          f"{', '.join(f'{kind} {key[:16]}' for kind, key in sorted(keys.items()))} "
          f"({time.perf_counter() - started:.1f} s)")
    if not args.into:       # (--into times the tiles afresh for shipping)
        _retune_tiles(root, only_under_load=True)
    return 0


def _retune(args, root):
    _retune_tiles(root, only_under_load=False)
    return 0


def _retune_tiles(root, only_under_load):
    """Time the small-GEMM tiles again (gemm_tuning.retune) off any program's call path, and
    say what changed."""
    from .. import gemm_tuning
    entry = runtime_library.runtime()
    before, after = gemm_tuning.retune(entry.lib, entry.key, root,
                                       only_under_load=only_under_load)
    if after is None:
        return
    gemm_tuning.apply(entry.lib, after)
    if before is not None:
        print(f"before: {gemm_tuning.describe(before)}")
    print(f"now:    {gemm_tuning.describe(after)}")


def _clear(args, root):
    removed = cache.clear(root)
    print(f"removed {removed} entries from {root}")
    return 0


_COMMANDS = {"path": _path, "list": _list, "show": _show, "verify": _verify, "prune": _prune,
             "clear": _clear, "warm": _warm, "prebuild": _prebuild, "retune": _retune}
