"""Benchmark the demo data generator: records/s and peak RSS for N customers.

python bench/demo_generator.py --customers 100000
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
from pathlib import Path

from demo.generator import generate


def main() -> None:
    """Generate into a temporary folder and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="write here and keep the files")
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="demo-bench-"))
    try:
        result = generate(out, customers=args.customers, seed=args.seed)
        size = sum(f.stat().st_size for f in out.iterdir())
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"customers        {result.persons:,}")
        print(f"source records   {result.total_records:,}  {result.records}")
        print(f"seconds          {result.seconds:.2f}")
        print(f"records/s        {result.total_records / result.seconds:,.0f}")
        print(f"bytes written    {size / 1e6:,.1f} MB")
        print(f"peak RSS         {peak_mb:,.0f} MB")
    finally:
        if args.keep is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
