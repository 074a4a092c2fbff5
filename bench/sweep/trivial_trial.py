"""The trial of bench/sweep_trials.py: log one value of ``loss`` for the parameter ``x`` and exit.

    python trivial_trial.py X

Every framework runs this same script as a subprocess. It prints ``loss=VALUE`` (what the Ray
Tune and Optuna wrappers read back) and, under batchai (``BATCHAI_METRICS_DIR`` is set), logs the
value through ``batchai.log_metric`` when this batchai has it, else by writing the metrics line
format itself (``src/engine/metrics/jsonl.rs``), which is what ``log_metric`` writes. Peers never
import batchai, so they do not pay for it.
"""

import json
import os
import sys
import time

x = float(sys.argv[1])
loss = (x - 0.3) ** 2
print(f"loss={loss!r}", flush=True)
if "BATCHAI_METRICS_DIR" in os.environ:
    if os.environ.get("BENCH_LOGGER") == "batchai":
        import batchai

        batchai.log_metric("loss", loss, step=1)
    else:
        line = json.dumps({"name": "loss", "value": loss, "step": 1, "time": time.time()})
        path = os.path.join(os.environ["BATCHAI_METRICS_DIR"], f"bench-{os.getpid()}.jsonl")
        with open(path, "a") as out:
            out.write(line + "\n")
