//! TensorFlow: master alone, or parameter servers and workers with host lists and TF_CONFIG.

use serde_json::json;

use super::*;
use crate::engine::model::toolkits::ToolType;

fn tf(nodes: u32, extra: Value) -> Fixture {
    let mut settings = json!({
        "pythonScriptFilePath": "/s/mnist_replica.py",
        "masterCommandLineArgs": "--job_name=worker --task_index=$AZ_BATCHAI_TASK_INDEX --ps_hosts=$AZ_BATCHAI_PS_HOSTS",
        "workerCommandLineArgs": "--job_name=worker",
        "parameterServerCommandLineArgs": "--job_name=ps",
    });
    settings.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    Fixture::new(json!({"nodeCount": nodes, "tensorFlowSettings": settings}))
}

fn tf_config(p: &ProcessPlan) -> Value {
    serde_json::from_str(get(p, "TF_CONFIG")).expect("TF_CONFIG is JSON")
}

fn port(i: u16) -> String {
    format!("127.0.0.1:{}", FIRST_PORT + i)
}

#[test]
fn one_node_runs_the_master_alone() {
    let fx = tf(1, json!({}));
    assert_eq!(ports_needed(&fx.spec).unwrap(), 0);
    let plan = fx.plan();
    assert_eq!(plan.tool_type, ToolType::Tensorflow);
    assert_eq!(layout(&plan), [(0, 0, Role::Master)]);
    assert_eq!(stdouts(&plan), ["stdout.txt"]);
    let master = plan.primary();
    assert_eq!(
        master.program,
        Program::Shell("python3 /s/mnist_replica.py --job_name=worker --task_index=$AZ_BATCHAI_TASK_INDEX --ps_hosts=$AZ_BATCHAI_PS_HOSTS".into())
    );
    assert_eq!(az(master, "TASK_INDEX"), "0");
    assert_eq!(master.env.get("TF_CONFIG"), None);
    assert_eq!(master.env.get("AZ_BATCHAI_WORKER_HOSTS"), None);
    assert_eq!(plan.host_file, "127.0.0.1 slots=1\n");
}

#[test]
fn two_nodes_get_two_workers_and_one_parameter_server() {
    let fx = tf(2, json!({}));
    assert_eq!(ports_needed(&fx.spec).unwrap(), 3);
    let plan = fx.plan();
    assert_eq!(layout(&plan), [(0, 0, Role::Master), (1, 1, Role::Worker), (0, 0, Role::ParameterServer)]);
    assert_eq!(stdouts(&plan), ["stdout-wk-0.txt", "stdout-wk-1.txt", "stdout-ps-0.txt"]);
    assert_eq!(plan.processes[2].stderr, "stderr-ps-0.txt");
    assert_eq!(plan.host_file, "127.0.0.1 slots=3\n");

    let [master, worker, ps] = &plan.processes[..] else { unreachable!() };
    let workers = format!("{},{}", port(1), port(2));
    for p in [master, worker, ps] {
        assert_eq!(az(p, "PS_HOSTS"), port(0));
        assert_eq!(az(p, "WORKER_HOSTS"), workers);
    }
    assert_eq!(az(worker, "TASK_INDEX"), "1");
    assert_eq!(az(ps, "TASK_INDEX"), "0");
    assert_eq!(worker.program, words(&["python3", "/s/mnist_replica.py", "--job_name=worker"]));
    assert_eq!(ps.program, words(&["python3", "/s/mnist_replica.py", "--job_name=ps"]));

    let cluster = json!({"ps": [port(0)], "worker": [port(1), port(2)]});
    assert_eq!(
        tf_config(master),
        json!({"cluster": cluster, "task": {"type": "master", "index": 0}, "environment": "cloud"})
    );
    assert_eq!(tf_config(worker)["task"], json!({"type": "worker", "index": 1}));
    assert_eq!(tf_config(ps)["task"], json!({"type": "ps", "index": 0}));
    // Batch AI's key order.
    assert!(get(master, "TF_CONFIG").starts_with("{\"cluster\":{\"ps\":"));
}

#[test]
fn counts_given_spread_workers_in_blocks_and_one_ps_per_node() {
    let fx = tf(2, json!({"workerCount": 3, "parameterServerCount": 2}));
    let plan = fx.plan();
    assert_eq!(
        layout(&plan),
        [
            (0, 0, Role::Master),
            (0, 1, Role::Worker),
            (1, 2, Role::Worker),
            (0, 0, Role::ParameterServer),
            (1, 1, Role::ParameterServer),
        ]
    );
    let master = plan.primary();
    assert_eq!(az(master, "PS_HOSTS"), format!("{},{}", port(0), port(1)));
    assert_eq!(az(master, "WORKER_HOSTS"), format!("{},{},{}", port(2), port(3), port(4)));
    assert_eq!(plan.host_file, "127.0.0.1 slots=5\n");
    assert_eq!(get(&plan.processes[4], "CUDA_VISIBLE_DEVICES"), "1");
}

#[test]
fn several_workers_on_one_node_are_distributed() {
    let fx = tf(1, json!({"workerCount": 2}));
    let plan = fx.plan();
    assert_eq!(layout(&plan), [(0, 0, Role::Master), (0, 1, Role::Worker), (0, 0, Role::ParameterServer)]);
}

#[test]
fn no_parameter_servers_leaves_ps_out() {
    let fx = tf(2, json!({"parameterServerCount": 0}));
    let plan = fx.plan();
    assert_eq!(layout(&plan), [(0, 0, Role::Master), (1, 1, Role::Worker)]);
    let master = plan.primary();
    assert_eq!(az(master, "PS_HOSTS"), "");
    assert_eq!(tf_config(master)["cluster"], json!({"worker": [port(0), port(1)]}));
}

#[test]
fn host_lists_use_node_addresses() {
    let mut fx = tf(2, json!({}));
    fx.nodes[0].address = "10.0.0.4".into();
    fx.nodes[1].address = "10.0.0.5".into();
    let plan = fx.plan();
    let master = plan.primary();
    assert_eq!(az(master, "PS_HOSTS"), format!("10.0.0.4:{FIRST_PORT}"));
    assert_eq!(az(master, "WORKER_HOSTS"), format!("10.0.0.4:{},10.0.0.5:{}", FIRST_PORT + 1, FIRST_PORT + 2));
    assert_eq!(plan.host_file, "10.0.0.4 slots=2\n10.0.0.5 slots=1\n");
}

#[test]
fn too_few_ports_is_an_error() {
    let mut fx = tf(2, json!({"workerCount": 4}));
    fx.ports.truncate(2);
    assert_eq!(plan(&fx.request()).unwrap_err(), PlanError::Ports { needed: 5, given: 2 });
}

#[test]
fn master_and_workers_decide_and_parameter_servers_do_not_count() {
    let plan = tf(2, json!({})).plan();
    assert_eq!(plan.primary().role, Role::Master);
    let must: Vec<usize> = (0..plan.processes.len()).filter(|&i| plan.must_finish(i)).collect();
    let servers: Vec<usize> = (0..plan.processes.len()).filter(|&i| !plan.must_finish(i)).collect();
    assert!(!servers.is_empty() && servers.iter().all(|&i| plan.processes[i].role == Role::ParameterServer));
    let none = Default::default();
    assert_eq!(plan.job_exit(servers[0], 0, &none), None, "a parameter server ending cleanly changes nothing");
    assert_eq!(plan.job_exit(must[1], 1, &none), Some(1));
    assert_eq!(plan.job_exit(0, 0, &none), if must.len() == 1 { Some(0) } else { None });
    let others = must[1..].iter().copied().collect();
    assert_eq!(plan.job_exit(0, 0, &others), Some(0));
}
