#!/usr/bin/env python3
"""Check that each plugin library exports exactly one dynamic symbol, eulerstack_plugin.

Usage: check_plugin_exports.py [--nm NM] [--entry SYMBOL] PLUGIN.so...
(--entry eulerstack_plugin_modules checks module libraries.)
Exits 1 (listing what each bad library exports) when any library exports
anything else, or lacks the entry.
"""
import argparse
import subprocess
import sys


def exported_symbols(nm, path):
    out = subprocess.run([nm, "-D", "--defined-only", path], check=True, capture_output=True, text=True).stdout
    # "0000000000004010 D eulerstack_plugin" (a version suffix "@@V" would be kept out)
    return sorted(line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nm", default="nm")
    parser.add_argument("--entry", default="eulerstack_plugin")
    parser.add_argument("plugins", nargs="+")
    args = parser.parse_args()
    bad = 0
    for path in args.plugins:
        names = exported_symbols(args.nm, path)
        if names == [args.entry]:
            print(f"ok: {path}")
        else:
            bad += 1
            print(f"FAIL: {path} exports {names or 'nothing'}; expected only {args.entry}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
