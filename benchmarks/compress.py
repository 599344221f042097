"""The compression report as a benchmark: every variant timed against its original in the same run.

Each variant's latency is measured alternately with the original's (the median of several
alternating runs), so the speed-ups are ratios against a peer run, not wall-clock claims.

    python benchmarks/compress.py [--quick] [--section bert --section gan --section gguf] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, types and sparsities")
    parser.add_argument("--section", action="append", choices=("bert", "gan", "gguf"))
    parser.add_argument(
        "--out", type=Path, default=None, help="report folder (default $LMGEN_HOME/compress/report)"
    )
    args = parser.parse_args()

    from lmgen.models.compress.report import SECTIONS, build_report, markdown_table
    from lmgen.stores.models import lmgen_home

    out = args.out or lmgen_home() / "compress" / "report"
    report = build_report(out, quick=args.quick, sections=tuple(args.section or SECTIONS))
    print(markdown_table(report))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
