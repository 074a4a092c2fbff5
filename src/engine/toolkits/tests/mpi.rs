//! Custom MPI, Horovod, Chainer and CNTK: through mpirun, and started directly without it.

use serde_json::json;

use super::*;
use crate::engine::model::toolkits::ToolType;

fn horovod(nodes: u32, process_count: Option<u32>) -> Fixture {
    let mut settings = json!({"pythonScriptFilePath": "/s/train.py", "commandLineArgs": "--epochs 2"});
    if let Some(n) = process_count {
        settings["processCount"] = json!(n);
    }
    Fixture::new(json!({"nodeCount": nodes, "horovodSettings": settings}))
}

const PROLOGUE: &str = "export AZ_BATCHAI_TASK_INDEX=$OMPI_COMM_WORLD_RANK BATCHAI_TASK_INDEX=$OMPI_COMM_WORLD_RANK \
RANK=$OMPI_COMM_WORLD_RANK WORLD_SIZE=$OMPI_COMM_WORLD_SIZE LOCAL_RANK=$OMPI_COMM_WORLD_LOCAL_RANK \
LOCAL_WORLD_SIZE=$OMPI_COMM_WORLD_LOCAL_SIZE";

#[test]
fn several_ranks_go_through_one_mpirun_on_the_master() {
    let plan = horovod(2, Some(4)).with_mpirun().plan();
    assert_eq!(plan.tool_type, ToolType::Horovod);
    assert_eq!(layout(&plan), [(0, 0, Role::Mpirun)]);
    let p = plan.primary();
    let script = format!("{PROLOGUE}; exec python3 /s/train.py --epochs 2");
    assert_eq!(
        p.program,
        words(&[
            "/usr/bin/mpirun",
            "--hostfile",
            "/ws/jobs/j1/hostfile",
            "-np",
            "4",
            "--oversubscribe",
            "--bind-to",
            "none",
            "bash",
            "-c",
            &script,
        ])
    );
    assert_eq!(stdouts(&plan), ["stdout.txt"]);
    assert_eq!(plan.host_file, "127.0.0.1 slots=4\n");
    // Both local nodes' GPUs, since Open MPI counts local ranks per machine.
    assert_eq!(get(p, "CUDA_VISIBLE_DEVICES"), "0,1");
    assert_eq!(az(p, "NUM_GPUS"), "1");
    assert_eq!(p.env.get("OMPI_COMM_WORLD_RANK"), None, "mpirun sets those");
}

#[test]
fn mpirun_as_root_is_allowed_explicitly() {
    let mut fx = horovod(2, None).with_mpirun();
    fx.mpirun.as_mut().unwrap().as_root = true;
    let plan = fx.plan();
    let argv = plan.primary().program.argv("bash");
    assert_eq!(argv[4], "2", "processCount defaults to nodeCount");
    assert_eq!(&argv[5..9], ["--oversubscribe", "--bind-to", "none", "--allow-run-as-root"]);
}

#[test]
fn remote_nodes_get_the_environment_by_name() {
    let mut fx = Fixture::new(json!({
        "nodeCount": 2,
        "customMpiSettings": {"commandLine": "python $AZ_BATCHAI_INPUT_S/x.py"},
        "inputDirectories": [{"id": "S", "path": "/s"}],
        "secrets": [{"name": "TOKEN", "value": "s3cr3t"}],
    }))
    .with_mpirun();
    fx.nodes[1].address = "10.0.0.5".into();
    let plan = fx.plan();
    let argv = plan.primary().program.argv("bash");
    let exported: Vec<&str> = argv.windows(2).filter(|w| w[0] == "-x").map(|w| w[1].as_str()).collect();
    for name in ["AZ_BATCHAI_INPUT_S", "BATCHAI_INPUT_S", "AZ_BATCHAI_MPI_HOST_FILE", "TOKEN"] {
        assert!(exported.contains(&name), "{name} in {exported:?}");
    }
    assert!(!exported.contains(&"CUDA_VISIBLE_DEVICES"), "each machine keeps its own GPUs");
    assert!(!argv.iter().any(|a| a.contains("s3cr3t")));
    // The shell line keeps its `$` for the rank's bash, without exec.
    assert_eq!(argv.last().unwrap(), &format!("{PROLOGUE}; python $AZ_BATCHAI_INPUT_S/x.py"));
    assert_eq!(get(plan.primary(), "CUDA_VISIBLE_DEVICES"), "0", "only the master's machine");
    assert_eq!(plan.host_file, "127.0.0.1 slots=1\n10.0.0.5 slots=1\n");
}

#[test]
fn without_mpirun_ranks_start_directly_in_blocks() {
    let plan = horovod(2, Some(5)).plan();
    assert_eq!(
        layout(&plan),
        [(0, 0, Role::Rank), (0, 1, Role::Rank), (0, 2, Role::Rank), (1, 3, Role::Rank), (1, 4, Role::Rank)]
    );
    assert_eq!(stdouts(&plan), ["stdout-0.txt", "stdout-1.txt", "stdout-2.txt", "stdout-3.txt", "stdout-4.txt"]);
    assert_eq!(plan.processes[4].stderr, "stderr-4.txt");
    assert_eq!(plan.host_file, "127.0.0.1 slots=5\n");
    for p in &plan.processes {
        assert_eq!(p.program, words(&["python3", "/s/train.py", "--epochs", "2"]));
    }
    let r4 = &plan.processes[4];
    let expected = [
        ("OMPI_COMM_WORLD_RANK", "4"),
        ("OMPI_COMM_WORLD_SIZE", "5"),
        ("OMPI_COMM_WORLD_LOCAL_RANK", "1"),
        ("OMPI_COMM_WORLD_LOCAL_SIZE", "2"),
        ("RANK", "4"),
        ("WORLD_SIZE", "5"),
        ("LOCAL_RANK", "1"),
        ("LOCAL_WORLD_SIZE", "2"),
    ];
    for (name, value) in expected {
        assert_eq!(get(r4, name), value, "{name}");
    }
    assert_eq!(az(r4, "TASK_INDEX"), "4");
    // Each rank sees its own node.
    assert_eq!(az(r4, "JOB_TEMP"), "/ws/nodes/node-1/jobs/j1");
    assert_eq!(get(r4, "CUDA_VISIBLE_DEVICES"), "1");
    assert_eq!(get(&plan.processes[2], "OMPI_COMM_WORLD_LOCAL_SIZE"), "3");
    assert!(r4.env.get("PMI_RANK").is_none() && r4.env.get("PMIX_RANK").is_none());
}

#[test]
fn one_rank_runs_alone_even_with_mpirun() {
    let plan = horovod(1, None).with_mpirun().plan();
    assert_eq!(layout(&plan), [(0, 0, Role::Master)]);
    assert_eq!(stdouts(&plan), ["stdout.txt"]);
    assert_eq!(get(plan.primary(), "OMPI_COMM_WORLD_SIZE"), "1");
    assert_eq!(plan.host_file, "127.0.0.1 slots=1\n");
}

#[test]
fn fewer_ranks_than_nodes_leave_the_last_nodes_empty() {
    let plan = horovod(3, Some(2)).plan();
    assert_eq!(layout(&plan), [(0, 0, Role::Rank), (1, 1, Role::Rank)]);
    assert_eq!(plan.host_file, "127.0.0.1 slots=3\n");
}

#[test]
fn custom_mpi_runs_its_command_line() {
    let fx = Fixture::new(json!({"nodeCount": 2, "customMpiSettings": {"commandLine": "hostname"}}));
    let plan = fx.plan();
    assert_eq!(plan.tool_type, ToolType::Custommpi);
    assert_eq!(plan.processes[1].program, words(&["hostname"]));
    let plan =
        Fixture::new(json!({"nodeCount": 2, "customMpiSettings": {"commandLine": "echo $OMPI_COMM_WORLD_RANK"}}))
            .plan();
    assert_eq!(plan.processes[0].program, Program::Shell("echo $OMPI_COMM_WORLD_RANK".into()));
}

#[test]
fn chainer_uses_its_interpreter() {
    let fx = Fixture::new(json!({"nodeCount": 2, "chainerSettings": {
        "pythonScriptFilePath": "$AZ_BATCHAI_INPUT_S/train_mnist.py",
        "pythonInterpreterPath": "/opt/conda/bin/python",
        "processCount": 2,
    }, "inputDirectories": [{"id": "S", "path": "/s"}]}))
    .with_mpirun();
    let plan = fx.plan();
    assert_eq!(plan.tool_type, ToolType::Chainer);
    let argv = plan.primary().program.argv("bash");
    assert_eq!(
        argv.last().unwrap(),
        &format!("{PROLOGUE}; /opt/conda/bin/python \"$AZ_BATCHAI_INPUT_S/train_mnist.py\"")
    );
}

#[test]
fn cntk_brainscript_and_python() {
    let fx = Fixture::new(json!({"nodeCount": 1, "cntkSettings": {
        "languageType": "BrainScript",
        "configFilePath": "/s/ConvNet_MNIST.cntk",
        "commandLineArgs": "rootDir=. dataDir=$AZ_BATCHAI_INPUT_DATA",
    }}));
    let plan = fx.plan();
    assert_eq!(plan.tool_type, ToolType::Cntk);
    assert_eq!(
        plan.primary().program,
        Program::Shell("cntk configFile=/s/ConvNet_MNIST.cntk rootDir=. dataDir=$AZ_BATCHAI_INPUT_DATA".into())
    );
    assert_eq!(stdouts(&plan), ["stdout.txt"]);

    let fx = Fixture::new(
        json!({"nodeCount": 2, "cntkSettings": {"pythonScriptFilePath": "/s/cifar.py", "processCount": 2}}),
    );
    let plan = fx.plan();
    assert_eq!(plan.processes[1].program, words(&["python3", "/s/cifar.py"]));
    assert_eq!(stdouts(&plan), ["stdout-0.txt", "stdout-1.txt"]);
}

#[test]
fn the_host_file_has_one_line_per_address() {
    let mut fx = horovod(3, Some(7)).with_mpirun();
    fx.nodes[2].address = "10.0.0.7".into();
    // Blocks of [3, 2, 2]; Open MPI refuses the same host with two slot counts.
    assert_eq!(fx.plan().host_file, "127.0.0.1 slots=5\n10.0.0.7 slots=2\n");
}
