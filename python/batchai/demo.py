"""``python -m batchai.demo``: a tour of the embedded default (a local workspace and cluster)."""

from __future__ import annotations

import batchai


def main() -> None:
    ws = batchai.Workspace("demo")
    print(f"workspace {ws.name!r} at {ws.path}")
    cluster = ws.create_cluster("local", target_node_count=2, exist_ok=True)
    print(f"cluster {cluster.name!r}: {cluster.engine}, {cluster.scale_settings.manual}")
    exp = ws.create_experiment("hello", exist_ok=True)
    name = f"hello-{len(exp.jobs()) + 1}"
    job = exp.create_job(name, cluster=cluster, command_line="echo hello from $AZ_BATCHAI_JOB_TEMP")
    print(f"job {job.name!r}: tool {job.tool_type}, state {job.execution_state}")
    print(job.to_json())


if __name__ == "__main__":
    main()
