"""What `import batchai` costs a training script that only logs metrics (issue 9: "importing in a
few milliseconds"), beside the bare interpreter and the full package.

    python bench/import_time.py [--runs 30] [--json out.json]

Each case is a fresh interpreter (`sys.executable -c ...`), timed from spawn to exit; the cases
run interleaved so a busy machine slows them alike. Prints a Markdown table of medians and
minimums, and each case's cost beyond `python -c pass`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

CASES = {
    "python -c pass": "pass",
    "import batchai; batchai.log_metric('loss', 0.5) (in a job)": "import batchai; batchai.log_metric('loss', 0.5)",
    "import batchai; batchai.Workspace (native core and resources)": "import batchai; batchai.Workspace",
    "from batchai import * (everything the package used to import eagerly)": "from batchai import *",
}


def once(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", help="write every sample (seconds) to this file")
    args = parser.parse_args()
    import os

    with tempfile.TemporaryDirectory() as metrics:
        # As the agent sets it for a job: the logger writes its file there.
        env = {**os.environ, "BATCHAI_METRICS_DIR": metrics}
        # As installed packages run: from bytecode (pip compiles it; an editable install writes
        # it on first import), not compiled from source at every start.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for code in CASES.values():  # warm the page cache and __pycache__
            once(code, env)
        samples: dict[str, list[float]] = {label: [] for label in CASES}
        for _ in range(args.runs):
            for label, code in CASES.items():
                samples[label].append(once(code, env))
    base = statistics.median(samples["python -c pass"])
    print(f"{args.runs} runs each, {sys.executable}\n")
    print("| what | median | min | beyond `python -c pass` (median) |")
    print("|---|---:|---:|---:|")
    for label, times in samples.items():
        median = statistics.median(times)
        print(f"| `{label}` | {median * 1000:.1f} ms | {min(times) * 1000:.1f} ms | {(median - base) * 1000:+.1f} ms |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(samples, f, indent=1)


if __name__ == "__main__":
    main()
