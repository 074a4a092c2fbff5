//! Caffe (solver or script, processes started directly) and Caffe2 (one shard per node).

use serde_json::json;

use super::*;
use crate::engine::model::toolkits::ToolType;

#[test]
fn caffe_trains_with_its_solver() {
    let fx = Fixture::new(
        json!({"nodeCount": 1, "caffeSettings": {"configFilePath": "/s/lenet_solver.prototxt", "commandLineArgs": "-gpu all"}}),
    );
    let plan = fx.plan();
    assert_eq!(plan.tool_type, ToolType::Caffe);
    assert_eq!(plan.primary().program, words(&["caffe", "train", "--solver=/s/lenet_solver.prototxt", "-gpu", "all"]));
    assert_eq!(stdouts(&plan), ["stdout.txt"]);
}

#[test]
fn caffe_scripts_start_their_processes_directly() {
    // Not an MPI toolkit (spec §3): no mpirun, even when there is one, and none needed.
    let fx = Fixture::new(json!({"nodeCount": 2, "caffeSettings": {"pythonScriptFilePath": "/s/train.py", "pythonInterpreterPath": "python2"}}))
        .with_mpirun();
    let plan = fx.plan();
    assert_eq!(layout(&plan), [(0, 0, Role::Rank), (1, 1, Role::Rank)]);
    assert_eq!(plan.processes[1].program, words(&["python2", "/s/train.py"]));
    assert_eq!(az(&plan.processes[1], "TASK_INDEX"), "1");
    assert!(plan.processes[1].env.get("OMPI_COMM_WORLD_RANK").is_none(), "not an MPI job");
}

#[test]
fn caffe2_runs_one_shard_per_node() {
    let fx = Fixture::new(json!({"nodeCount": 3, "caffe2Settings": {
        "pythonScriptFilePath": "/s/resnet50_trainer.py",
        "commandLineArgs": "--num_shards 3 --shard_id $AZ_BATCHAI_TASK_INDEX --file_store_path $AZ_BATCHAI_SHARED_JOB_TEMP",
    }}))
    .with_mpirun();
    let plan = fx.plan();
    assert_eq!(plan.tool_type, ToolType::Caffe2);
    assert_eq!(layout(&plan), [(0, 0, Role::Rank), (1, 1, Role::Rank), (2, 2, Role::Rank)]);
    assert_eq!(stdouts(&plan), ["stdout-0.txt", "stdout-1.txt", "stdout-2.txt"]);
    let shard = &plan.processes[2];
    assert_eq!(az(shard, "TASK_INDEX"), "2");
    assert_eq!(get(shard, "WORLD_SIZE"), "3");
    assert_eq!(az(shard, "SHARED_JOB_TEMP"), "/ws/jobs/j1/shared");
    assert!(shard.env.get("OMPI_COMM_WORLD_RANK").is_none(), "not an MPI job");
    assert_eq!(
        shard.program,
        Program::Shell("python3 /s/resnet50_trainer.py --num_shards 3 --shard_id $AZ_BATCHAI_TASK_INDEX --file_store_path $AZ_BATCHAI_SHARED_JOB_TEMP".into())
    );
    assert_eq!(ports_needed(&fx.spec).unwrap(), 0);
}

#[test]
fn caffe2_on_one_node_is_a_single_process_job() {
    let plan = Fixture::new(json!({"nodeCount": 1, "caffe2Settings": {"pythonScriptFilePath": "/s/t.py"}})).plan();
    assert_eq!(layout(&plan), [(0, 0, Role::Master)]);
    assert_eq!(stdouts(&plan), ["stdout.txt"]);
}
