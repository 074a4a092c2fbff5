"""The trial of the metric-to-decision latency run of bench/sweep_trials.py.

    python stopped_trial.py X OUT_DIR

Logs ``loss`` = X every ``BENCH_PERIOD`` seconds (20 ms) for ``BENCH_SECONDS`` (3 s), each point
stamped with the time it was logged. The sweep's policy stops the trials with a larger X than
the best; their job gets SIGTERM. The handler notes when it arrived, and the trial writes
``OUT_DIR/<trial id>.json``: the logged times by interval and the SIGTERM time, which is how the
benchmark measures logged → stop signal received from outside the agent.
"""

import json
import os
import signal
import sys
import time

x = float(sys.argv[1])
out_dir = sys.argv[2]
period = float(os.environ.get("BENCH_PERIOD", "0.02"))
seconds = float(os.environ.get("BENCH_SECONDS", "3"))
logged: list[float] = []
sigterm: list[float] = []


def on_sigterm(signum: int, frame: object) -> None:
    sigterm.append(time.time())


signal.signal(signal.SIGTERM, on_sigterm)
path = os.path.join(os.environ["BATCHAI_METRICS_DIR"], f"bench-{os.getpid()}.jsonl")
with open(path, "a") as metrics:
    end = time.time() + seconds
    while not sigterm and time.time() < end:
        now = time.time()
        metrics.write(json.dumps({"name": "loss", "value": x, "step": len(logged) + 1, "time": now}) + "\n")
        metrics.flush()
        logged.append(now)
        time.sleep(period)
record = {"trial": int(os.environ["BATCHAI_TRIAL_ID"]), "x": x, "logged": logged, "sigterm": sigterm[:1]}
with open(os.path.join(out_dir, f"{record['trial']}.json"), "w") as f:
    json.dump(record, f)
