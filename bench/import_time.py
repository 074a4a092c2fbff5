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
import os
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


PER_CALL = """
import time, batchai
t = time.perf_counter()
for i in range(20000):
    batchai.log_metric("loss", i * 0.1, step=i)
print(f"{(time.perf_counter() - t) / 20000 * 1e6:.1f}")
"""


def once(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", help="write every sample (seconds) to this file")
    args = parser.parse_args()

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
        # And what each call costs once imported: formatting the line and one write system call.
        per_call = subprocess.run([sys.executable, "-c", PER_CALL], env=env, capture_output=True, text=True, check=True)
    base = statistics.median(samples["python -c pass"])
    print(f"{args.runs} runs each, {sys.executable}\n")
    print("| what | median | min | beyond `python -c pass` (median) |")
    print("|---|---:|---:|---:|")
    for label, times in samples.items():
        median = statistics.median(times)
        print(f"| `{label}` | {median * 1000:.1f} ms | {min(times) * 1000:.1f} ms | {(median - base) * 1000:+.1f} ms |")
    print(f"\nOne `batchai.log_metric` call in a job: {per_call.stdout.strip()} us (mean of 20,000)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(samples, f, indent=1)


if __name__ == "__main__":
    main()
