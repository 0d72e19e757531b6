"""``make bench``: runs every ``tools/bench_*.py`` module's ``main()`` in turn.

Each benchmark prints its own figures (with the core count) and returns; the
runner only discovers and sequences them.  ``python -m tools.bench NAME``
runs just ``tools/bench_NAME.py``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import tools


def main(argv: list[str]) -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules(tools.__path__) if m.name.startswith("bench_")
    )
    wanted = {f"bench_{a}" for a in argv}
    unknown = sorted(wanted - set(names))
    if unknown:  # e.g. "--help": say what there is rather than run everything (labs bind fixed addresses)
        print(f"usage: python -m tools.bench [NAME...]; NAME one of: "
              f"{', '.join(n[len('bench_'):] for n in names)} (unknown: {', '.join(u[6:] for u in unknown)})")
        return 2
    if wanted:
        names = [n for n in names if n in wanted]
    print(f"# ims benchmarks on {os.cpu_count()} cores (medians of several runs)")
    for name in names:
        print(f"\n## {name[len('bench_'):]}")
        importlib.import_module(f"tools.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
