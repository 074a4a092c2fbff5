//! Custom MPI, Horovod, Chainer and CNTK: through mpirun and the rank shim, a failure without
//! it, and the shim itself run by bash as mpirun would start it.

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

/// The words of `mpirun`'s command after its options: the rank shim and the job's line.
fn shim_words(plan: &LaunchPlan) -> Vec<String> {
    let argv = plan.primary().program.argv("bash");
    let at = argv.iter().position(|w| w == "bash").expect("mpirun starts bash");
    argv[at..].to_vec()
}

#[test]
fn several_ranks_go_through_one_mpirun_on_the_master() {
    let plan = horovod(2, Some(4)).with_mpirun().plan();
    assert_eq!(plan.tool_type, ToolType::Horovod);
    assert_eq!(layout(&plan), [(0, 0, Role::Mpirun)]);
    let p = plan.primary();
    let argv = p.program.argv("bash");
    assert_eq!(
        argv[..10],
        [
            "/usr/bin/mpirun",
            "--hostfile",
            "/ws/jobs/j1/hostfile",
            "-np",
            "4",
            "--map-by",
            "slot",
            "--oversubscribe",
            "--bind-to",
            "none",
        ]
    );
    let shim = shim_words(&plan);
    assert_eq!(shim.len(), 5);
    assert_eq!((shim[0].as_str(), shim[1].as_str()), ("bash", "-c"));
    assert_eq!(shim[3..], ["batchai-rank", "python3 /s/train.py --epochs 2"]);
    assert_eq!(stdouts(&plan), ["stdout.txt"]);
    assert_eq!(plan.host_file, "127.0.0.1 slots=4\n");
    // mpirun runs with the master node's view; the shim gives every other node's ranks theirs.
    assert_eq!(get(p, "CUDA_VISIBLE_DEVICES"), "0");
    assert_eq!(get(p, "BATCHAI_NODE_ID"), "node-0");
    assert_eq!(az(p, "NUM_GPUS"), "1");
    assert_eq!(p.env.get("OMPI_COMM_WORLD_RANK"), None, "mpirun sets those");
    let table = &shim[2];
    assert!(table.contains("if ((r >= 0 && r < 2)); then f=0 s=2 c=0-3\n"), "{table}");
    assert!(table.contains("elif ((r >= 2 && r < 4)); then f=2 s=2 c=4-7\n"), "{table}");
    assert!(table.contains("BATCHAI_NODE_ID=node-1"), "{table}");
    assert!(!table.contains("BATCHAI_NODE_ID=node-0"), "mpirun already has the master's: {table}");
}

#[test]
fn mpirun_as_root_is_allowed_explicitly() {
    let mut fx = horovod(2, None).with_mpirun();
    fx.mpirun.as_mut().unwrap().as_root = true;
    let plan = fx.plan();
    let argv = plan.primary().program.argv("bash");
    assert_eq!(argv[4], "2", "processCount defaults to nodeCount");
    assert_eq!(argv[10], "--allow-run-as-root");
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
    for name in ["AZ_BATCHAI_INPUT_S", "BATCHAI_INPUT_S", "AZ_BATCHAI_MPI_HOST_FILE", "TOKEN", "CUDA_VISIBLE_DEVICES"] {
        assert!(exported.contains(&name), "{name} in {exported:?}");
    }
    assert!(!argv.iter().any(|a| a.contains("s3cr3t")));
    // The line keeps its `$` for the rank's bash, which runs after the shim set the node's view.
    assert_eq!(argv.last().unwrap(), "python $AZ_BATCHAI_INPUT_S/x.py");
    // Each machine's ranks get their batchai node's GPUs from the shim.
    assert!(shim_words(&plan)[2].contains("CUDA_VISIBLE_DEVICES=1"));
    assert_eq!(plan.host_file, "127.0.0.1 slots=1\n10.0.0.5 slots=1\n");
}

#[test]
fn several_ranks_without_mpirun_fail_and_say_how_to_install_it() {
    let jobs = [
        ("customMpiSettings", json!({"nodeCount": 2, "customMpiSettings": {"commandLine": "python x.py"}})),
        (
            "horovodSettings",
            json!({"nodeCount": 1, "horovodSettings": {"pythonScriptFilePath": "t.py", "processCount": 2}}),
        ),
        ("chainerSettings", json!({"nodeCount": 2, "chainerSettings": {"pythonScriptFilePath": "t.py"}})),
        ("cntkSettings", json!({"nodeCount": 2, "cntkSettings": {"pythonScriptFilePath": "t.py"}})),
        (
            "pyTorchSettings with communicationBackend MPI",
            json!({"nodeCount": 2, "pyTorchSettings": {"pythonScriptFilePath": "t.py", "communicationBackend": "MPI"}}),
        ),
    ];
    for (settings, job) in jobs {
        let err = plan(&Fixture::new(job).request()).expect_err(settings);
        assert_eq!(err, PlanError::MpirunNotFound { settings, ranks: 2 });
        assert_eq!(err.code(), "MpirunNotFound");
        let message = err.to_string();
        assert!(message.starts_with(&format!("{settings} runs its 2 ranks under mpirun, and no mpirun was found")));
        for fix in ["apt-get install openmpi-bin libopenmpi-dev", "pip install mpi4py", "batchai agent stop"] {
            assert!(message.contains(fix), "{message}");
        }
    }
    // Toolkits that do not launch through MPI need no mpirun.
    for job in [
        json!({"nodeCount": 2, "customToolkitSettings": {"commandLine": "hostname"}}),
        json!({"nodeCount": 2, "pyTorchSettings": {"pythonScriptFilePath": "t.py", "communicationBackend": "gloo"}}),
        json!({"nodeCount": 2, "tensorFlowSettings": {"pythonScriptFilePath": "t.py"}}),
        json!({"nodeCount": 2, "caffeSettings": {"pythonScriptFilePath": "t.py"}}),
        json!({"nodeCount": 2, "caffe2Settings": {"pythonScriptFilePath": "t.py"}}),
    ] {
        assert!(plan(&Fixture::new(job.clone()).request()).is_ok(), "{job}");
    }
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
    let plan = horovod(3, Some(2)).with_mpirun().plan();
    assert_eq!(plan.host_file, "127.0.0.1 slots=3\n");
    let table = &shim_words(&plan)[2];
    assert!(table.contains("if ((r >= 0 && r < 1)); then f=0 s=1"), "{table}");
    assert!(table.contains("elif ((r >= 1 && r < 2)); then f=1 s=1"), "{table}");
    assert!(!table.contains("node-2"), "{table}");
}

#[test]
fn custom_mpi_runs_its_command_line() {
    let fx = Fixture::new(json!({"nodeCount": 2, "customMpiSettings": {"commandLine": "hostname"}})).with_mpirun();
    let plan = fx.plan();
    assert_eq!(plan.tool_type, ToolType::Custommpi);
    assert_eq!(shim_words(&plan).last().unwrap(), "hostname");
    let plan =
        Fixture::new(json!({"nodeCount": 1, "customMpiSettings": {"commandLine": "echo $OMPI_COMM_WORLD_RANK"}}))
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
    assert_eq!(shim_words(&plan).last().unwrap(), "/opt/conda/bin/python \"$AZ_BATCHAI_INPUT_S/train_mnist.py\"");
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
    )
    .with_mpirun();
    let plan = fx.plan();
    assert_eq!(layout(&plan), [(0, 0, Role::Mpirun)]);
    assert_eq!(shim_words(&plan).last().unwrap(), "python3 /s/cifar.py");
}

#[test]
fn the_host_file_has_one_line_per_address() {
    let mut fx = horovod(3, Some(7)).with_mpirun();
    fx.nodes[2].address = "10.0.0.7".into();
    // Blocks of [3, 2, 2]; Open MPI refuses the same host with two slot counts.
    assert_eq!(fx.plan().host_file, "127.0.0.1 slots=5\n10.0.0.7 slots=2\n");
}

/// The CPUs this test may run on.
fn my_cpus() -> Vec<u32> {
    // SAFETY: cpu_set_t is plain data filled in by the kernel.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) }, 0);
    // SAFETY: `set` was filled in above.
    (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).map(|c| c as u32).collect()
}

const DUMP: &str = "echo \"$BATCHAI_NODE_ID task=$AZ_BATCHAI_TASK_INDEX rank=$RANK world=$WORLD_SIZE \
local=$LOCAL_RANK/$LOCAL_WORLD_SIZE ompi=$OMPI_COMM_WORLD_LOCAL_RANK/$OMPI_COMM_WORLD_LOCAL_SIZE \
gpus=$CUDA_VISIBLE_DEVICES ckpt=$CKPT cwd=$(pwd -P)\"; grep Cpus_allowed_list /proc/self/status";

/// A 4-rank job on 2 nodes with real job temps, node 0 on the first CPU and node 1 on the last.
fn shim_job(dirs: &[tempfile::TempDir; 2]) -> (Fixture, Vec<u32>) {
    let mut fx = Fixture::new(json!({
        "nodeCount": 2,
        "customMpiSettings": {"commandLine": DUMP, "processCount": 4},
        "environmentVariables": [
            {"name": "CKPT", "value": "$AZ_BATCHAI_JOB_TEMP/ckpt"},
            {"name": "RANK", "value": "mine"},
        ],
    }))
    .with_mpirun();
    let cpus = my_cpus();
    let picked = vec![cpus[0], *cpus.last().unwrap()];
    for (i, node) in fx.nodes.iter_mut().enumerate() {
        node.paths.job_temp = dirs[i].path().canonicalize().unwrap().display().to_string();
        node.cpu_set = vec![picked[i]];
    }
    (fx, picked)
}

/// Runs the shim as `mpirun` would on one machine for `rank` of `world`: with `mpirun`'s
/// environment, in the master's folder, its local rank counted per machine.
fn run_rank(fx: &Fixture, rank: Option<u32>, path: &str) -> std::process::Output {
    let plan = fx.plan();
    let words = shim_words(&plan);
    let mut cmd = std::process::Command::new(&words[0]);
    cmd.args(&words[1..]).env_clear().env("PATH", path).current_dir(&fx.nodes[0].paths.job_temp);
    cmd.envs(plan.environment(plan.primary()));
    if let Some(rank) = rank {
        cmd.env("OMPI_COMM_WORLD_RANK", rank.to_string()).env("OMPI_COMM_WORLD_LOCAL_RANK", rank.to_string());
    }
    cmd.output().unwrap()
}

#[test]
fn the_shim_runs_each_rank_on_its_node() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (fx, cpus) = shim_job(&dirs);
    let path = std::env::var("PATH").unwrap();
    for rank in 0..4u32 {
        let node = (rank / 2) as usize;
        let out = run_rank(&fx, Some(rank), &path);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "rank {rank}: {stdout} {}", String::from_utf8_lossy(&out.stderr));
        let temp = &fx.nodes[node].paths.job_temp;
        let expected = format!(
            "node-{node} task={rank} rank=mine world=4 local={l}/2 ompi={l}/2 gpus={node} ckpt={temp}/ckpt cwd={temp}\n\
             Cpus_allowed_list:\t{cpu}\n",
            l = rank % 2,
            cpu = cpus[node],
        );
        assert_eq!(stdout, expected, "rank {rank}");
    }
}

#[test]
fn the_shim_refuses_a_rank_it_cannot_place() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (fx, _) = shim_job(&dirs);
    let path = std::env::var("PATH").unwrap();
    for (rank, says) in [(Some(4), "rank 4 is not one of this job's 4 ranks"), (None, "mpirun gave no rank")] {
        let out = run_rank(&fx, rank, &path);
        assert_eq!(out.status.code(), Some(70));
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[test]
fn without_taskset_the_shim_says_so_and_runs_unpinned() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (fx, _) = shim_job(&dirs);
    // A PATH with bash and grep only.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["bash", "grep"] {
        let found = crate::engine::engines::local::launch::find_program(tool, None).unwrap();
        std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
    }
    let out = run_rank(&fx, Some(3), &bin.path().display().to_string());
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("node-1 task=3 "), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("taskset (util-linux) not found: rank 3 is not pinned"), "{stderr}");
}
