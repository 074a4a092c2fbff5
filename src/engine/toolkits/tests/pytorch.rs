//! PyTorch: ranks with file rendezvous and torchrun's variables; mpirun for the mpi backend.

use serde_json::json;

use super::*;
use crate::engine::model::toolkits::ToolType;

fn torch(nodes: u32, extra: Value) -> Fixture {
    let mut settings = json!({
        "pythonScriptFilePath": "/s/mnist.py",
        "commandLineArgs": "--dist-url $AZ_BATCHAI_PYTORCH_INIT_METHOD --rank $AZ_BATCHAI_TASK_INDEX --world-size 2",
    });
    settings.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    Fixture::new(json!({"nodeCount": nodes, "pyTorchSettings": settings}))
}

#[test]
fn one_rank_per_node_by_default() {
    let fx = torch(2, json!({"communicationBackend": "Gloo"}));
    assert_eq!(ports_needed(&fx.spec).unwrap(), 1);
    let plan = fx.plan();
    assert_eq!(plan.tool_type, ToolType::Pytorch);
    assert_eq!(layout(&plan), [(0, 0, Role::Rank), (1, 1, Role::Rank)]);
    assert_eq!(stdouts(&plan), ["stdout-0.txt", "stdout-1.txt"]);
    assert_eq!(plan.host_file, "127.0.0.1 slots=2\n");
    let r1 = &plan.processes[1];
    assert_eq!(az(r1, "PYTORCH_INIT_METHOD"), "file:///ws/jobs/j1/shared/pytorch_rendezvous");
    assert_eq!(az(r1, "PYTORCH_BACKEND"), "gloo");
    assert_eq!(az(r1, "TASK_INDEX"), "1");
    assert_eq!(get(r1, "RANK"), "1");
    assert_eq!(get(r1, "WORLD_SIZE"), "2");
    assert_eq!(get(r1, "LOCAL_RANK"), "0");
    assert_eq!(get(r1, "LOCAL_WORLD_SIZE"), "1");
    assert_eq!(get(r1, "MASTER_ADDR"), "127.0.0.1");
    assert_eq!(get(r1, "MASTER_PORT"), FIRST_PORT.to_string());
    assert_eq!(get(r1, "CUDA_VISIBLE_DEVICES"), "1");
    assert!(r1.env.get("OMPI_COMM_WORLD_RANK").is_none());
    assert!(matches!(r1.program, Program::Shell(ref l) if l.starts_with("python3 /s/mnist.py --dist-url $AZ")));
}

#[test]
fn more_ranks_than_nodes_share_nodes_in_blocks() {
    let plan = torch(2, json!({"processCount": 4, "commandLineArgs": "--epochs 1"})).plan();
    assert_eq!(layout(&plan), [(0, 0, Role::Rank), (0, 1, Role::Rank), (1, 2, Role::Rank), (1, 3, Role::Rank)]);
    let r3 = &plan.processes[3];
    assert_eq!((get(r3, "LOCAL_RANK"), get(r3, "LOCAL_WORLD_SIZE"), get(r3, "WORLD_SIZE")), ("1", "2", "4"));
    assert_eq!(r3.program, words(&["python3", "/s/mnist.py", "--epochs", "1"]));
    assert_eq!(r3.env.get("AZ_BATCHAI_PYTORCH_BACKEND"), None, "no backend given");
}

#[test]
fn a_single_process_job_writes_stdout_txt() {
    let plan = torch(1, json!({"pythonInterpreterPath": "/venv/bin/python"})).plan();
    assert_eq!(layout(&plan), [(0, 0, Role::Master)]);
    assert_eq!(stdouts(&plan), ["stdout.txt"]);
    assert!(plan.primary().program.shell_line().starts_with("/venv/bin/python /s/mnist.py"));
}

#[test]
fn the_mpi_backend_goes_through_mpirun() {
    let plan = torch(2, json!({"communicationBackend": "MPI"})).with_mpirun().plan();
    assert_eq!(layout(&plan), [(0, 0, Role::Mpirun)]);
    let p = plan.primary();
    assert_eq!(az(p, "PYTORCH_BACKEND"), "mpi");
    assert_eq!(get(p, "MASTER_PORT"), FIRST_PORT.to_string());
    let argv = p.program.argv("bash");
    assert_eq!(argv[argv.len() - 2], "batchai-rank", "through the rank shim");
    assert_eq!(
        argv.last().unwrap(),
        "python3 /s/mnist.py --dist-url $AZ_BATCHAI_PYTORCH_INIT_METHOD --rank $AZ_BATCHAI_TASK_INDEX --world-size 2"
    );

    // Other backends never use mpirun; without mpirun the mpi backend cannot run its ranks.
    let gloo = torch(2, json!({"communicationBackend": "gloo"})).with_mpirun().plan();
    assert_eq!(gloo.processes.len(), 2);
    let no_mpirun = super::plan(&torch(2, json!({"communicationBackend": "mpi"})).request());
    assert!(matches!(no_mpirun, Err(PlanError::MpirunNotFound { ranks: 2, .. })));
}

#[test]
fn every_rank_runs_to_its_end() {
    let plan = torch(2, json!({})).plan();
    assert_eq!(plan.primary().index, 0);
    let none = Default::default();
    assert_eq!(plan.job_exit(0, 0, &none), None, "rank 0 ending first does not end the job");
    assert_eq!(plan.job_exit(1, 0, &none), None);
    assert_eq!(plan.job_exit(1, 2, &none), Some(2));
    assert_eq!(plan.job_exit(1, 0, &[0].into()), Some(0));
}
