//! Custom toolkit, the environment every job gets, job preparation, secrets and request errors.

use serde_json::json;

use super::*;
use crate::engine::model::toolkits::ToolType;

fn custom(line: &str) -> Fixture {
    Fixture::new(json!({"nodeCount": 1, "customToolkitSettings": {"commandLine": line}}))
}

#[test]
fn a_plain_command_runs_directly_once_on_the_master() {
    let plan = custom("true").plan();
    assert_eq!(plan.tool_type, ToolType::Custom);
    assert_eq!(layout(&plan), [(0, 0, Role::Master)]);
    let p = plan.primary();
    assert_eq!(p.program, words(&["true"]));
    assert_eq!((p.stdout.as_str(), p.stderr.as_str()), ("stdout.txt", "stderr.txt"));
    assert!(plan.job_preparation.is_empty());
    assert!(plan.secrets.is_empty());
}

#[test]
fn a_shell_command_line_runs_through_bash_unchanged() {
    let line = "cd $AZ_BATCHAI_INPUT_X && python train.py > log.txt";
    let plan = custom(line).plan();
    assert_eq!(plan.primary().program, Program::Shell(line.into()));
    assert_eq!(plan.primary().program.argv("bash"), ["bash", "-c", line]);
}

#[test]
fn no_command_line_is_an_empty_shell_line() {
    let fx = Fixture::new(json!({"nodeCount": 1, "customToolkitSettings": {}}));
    assert_eq!(fx.plan().primary().program, Program::Shell(String::new()));
}

#[test]
fn several_nodes_still_run_one_process_and_offer_gpu_slots() {
    let mut fx = Fixture::new(
        json!({"nodeCount": 3, "customToolkitSettings": {"commandLine": "mpirun --hostfile $AZ_BATCHAI_MPI_HOST_FILE hostname"}}),
    );
    fx.nodes[1].gpus = vec!["1".into(), "2".into()];
    fx.nodes[2].gpus.clear();
    fx.nodes[1].address = "10.0.0.5".into();
    fx.nodes[2].address = "10.0.0.6".into();
    let plan = fx.plan();
    assert_eq!(layout(&plan), [(0, 0, Role::Master)]);
    assert_eq!(plan.host_file, "127.0.0.1 slots=1\n10.0.0.5 slots=2\n10.0.0.6 slots=4\n");
}

#[test]
fn every_batch_ai_variable_is_set_under_both_names() {
    let fx = Fixture::new(json!({
        "nodeCount": 1,
        "customToolkitSettings": {"commandLine": "true"},
        "inputDirectories": [{"id": "DATA", "path": "$AZ_BATCHAI_MOUNT_ROOT/afs/data"}],
        "outputDirectories": [{"id": "MODEL", "pathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/afs"}],
    }));
    let plan = fx.plan();
    let p = plan.primary();
    assert_eq!(az(p, "MOUNT_ROOT"), "/ws/nodes/node-0/mounts");
    assert_eq!(az(p, "JOB_MOUNT_ROOT"), "/ws/nodes/node-0/jobs/j1/mounts");
    assert_eq!(az(p, "JOB_TEMP"), "/ws/nodes/node-0/jobs/j1");
    assert_eq!(az(p, "JOB_TEMP_DIR"), "/ws/nodes/node-0/jobs");
    assert_eq!(az(p, "SHARED_JOB_TEMP"), "/ws/jobs/j1/shared");
    assert_eq!(az(p, "STDOUTERR_DIR"), "/ws/outputs/seg/stdouterr");
    assert_eq!(az(p, "MPI_HOST_FILE"), "/ws/jobs/j1/hostfile");
    assert_eq!(az(p, "NUM_GPUS"), "1");
    assert_eq!(az(p, "NUM_GPUS_PER_NODE"), "1");
    assert_eq!(az(p, "INPUT_DATA"), "/in/DATA");
    assert_eq!(az(p, "OUTPUT_MODEL"), "/out/MODEL");
    assert_eq!(get(p, "CUDA_VISIBLE_DEVICES"), "0");
    // GPU ids count in nvidia-smi's order, which CUDA follows only when told.
    assert_eq!(get(p, "CUDA_DEVICE_ORDER"), "PCI_BUS_ID");
    assert_eq!(get(p, "BATCHAI_WORKSPACE"), "ws");
    assert_eq!(get(p, "BATCHAI_EXPERIMENT"), "exp");
    assert_eq!(get(p, "BATCHAI_JOB_NAME"), "j1");
    assert_eq!(get(p, "BATCHAI_JOB_UID"), "0123");
    assert_eq!(get(p, "BATCHAI_NODE_ID"), "node-0");
    // The only task is task 0; the TensorFlow cluster spec is not for a custom toolkit job.
    assert_eq!(get(p, "AZ_BATCHAI_TASK_INDEX"), "0");
    assert_eq!(p.env.get("TF_CONFIG"), None);
}

#[test]
fn mlflow_logs_into_the_metrics_folder_unless_the_job_says_otherwise() {
    let plan = custom("true").plan();
    let p = plan.primary();
    assert_eq!(get(p, "BATCHAI_METRICS_DIR"), "/ws/outputs/seg/metrics");
    assert_eq!(get(p, "MLFLOW_TRACKING_URI"), "file:///ws/outputs/seg/metrics/mlruns");
    assert_eq!(get(p, "MLFLOW_ALLOW_FILE_STORE"), "true");
    assert_eq!(get(p, "MLFLOW_EXPERIMENT_NAME"), "exp");
    let fx = Fixture::new(json!({"nodeCount": 1, "customToolkitSettings": {"commandLine": "true"},
        "environmentVariables": [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow:5000"},
                                 {"name": "MLFLOW_EXPERIMENT_ID", "value": "7"}]}));
    let plan = fx.plan();
    let p = plan.primary();
    assert_eq!(get(p, "MLFLOW_TRACKING_URI"), "http://mlflow:5000", "the job's own value wins");
    assert_eq!(get(p, "MLFLOW_EXPERIMENT_ID"), "7");
    assert_eq!(p.env.get("MLFLOW_EXPERIMENT_NAME"), None, "a name would contradict the job's experiment id");
}

#[test]
fn a_node_without_gpus_says_zero_and_hides_them() {
    let mut fx = custom("nvidia-smi");
    fx.nodes[0].gpus.clear();
    let plan = fx.plan();
    assert_eq!(az(plan.primary(), "NUM_GPUS"), "0");
    assert_eq!(get(plan.primary(), "CUDA_VISIBLE_DEVICES"), "");
}

#[test]
fn gpu_ids_are_listed_as_given() {
    let mut fx = custom("true");
    fx.nodes[0].gpus = vec!["2".into(), "3".into()];
    let plan = fx.plan();
    assert_eq!(get(plan.primary(), "CUDA_VISIBLE_DEVICES"), "2,3");
    assert_eq!(az(plan.primary(), "NUM_GPUS"), "2");
}

#[test]
fn user_variables_come_last_and_may_refer_to_batch_ai_ones() {
    let fx = Fixture::new(json!({
        "nodeCount": 1,
        "customToolkitSettings": {"commandLine": "true"},
        "outputDirectories": [{"id": "MODEL", "pathPrefix": "/p"}],
        "environmentVariables": [
            {"name": "CKPT", "value": "$AZ_BATCHAI_OUTPUT_MODEL/ckpt"},
            {"name": "CUDA_VISIBLE_DEVICES", "value": "7"},
            {"name": "KEEP", "value": "$HOME/x"},
        ],
    }));
    let plan = fx.plan();
    let p = plan.primary();
    assert_eq!(get(p, "CKPT"), "/out/MODEL/ckpt");
    assert_eq!(get(p, "CUDA_VISIBLE_DEVICES"), "7");
    assert_eq!(get(p, "KEEP"), "$HOME/x");
}

#[test]
fn job_preparation_runs_on_every_node_with_its_own_files() {
    let fx = Fixture::new(json!({
        "nodeCount": 3,
        "customToolkitSettings": {"commandLine": "true"},
        "jobPreparation": {"commandLine": "pip install -r $AZ_BATCHAI_INPUT_S/req.txt"},
        "inputDirectories": [{"id": "S", "path": "/s"}],
        "environmentVariables": [{"name": "MODE", "value": "prep"}],
    }));
    let plan = fx.plan();
    let prep: Vec<(usize, u32, Role, &str, &str)> =
        plan.job_preparation.iter().map(|p| (p.node, p.index, p.role, p.stdout.as_str(), p.stderr.as_str())).collect();
    assert_eq!(
        prep,
        [
            (0, 0, Role::JobPreparation, "stdout-job_prep.txt", "stderr-job_prep.txt"),
            (1, 1, Role::JobPreparation, "stdout-job_prep-1.txt", "stderr-job_prep-1.txt"),
            (2, 2, Role::JobPreparation, "stdout-job_prep-2.txt", "stderr-job_prep-2.txt"),
        ]
    );
    let second = &plan.job_preparation[1];
    assert_eq!(second.program, Program::Shell("pip install -r $AZ_BATCHAI_INPUT_S/req.txt".into()));
    assert_eq!(az(second, "JOB_TEMP"), "/ws/nodes/node-1/jobs/j1");
    assert_eq!(az(second, "INPUT_S"), "/in/S");
    assert_eq!(get(second, "CUDA_VISIBLE_DEVICES"), "1");
    assert_eq!(get(second, "CUDA_DEVICE_ORDER"), "PCI_BUS_ID");
    assert_eq!(get(second, "MODE"), "prep");
    // Each node's preparation is its own task: recipes shard downloads by it.
    let indices: Vec<(&str, &str)> =
        plan.job_preparation.iter().map(|p| (az(p, "TASK_INDEX"), get(p, "BATCHAI_TASK_INDEX"))).collect();
    assert_eq!(indices, [("0", "0"), ("1", "1"), ("2", "2")]);
    // A plain preparation line skips bash too.
    let fx = Fixture::new(
        json!({"nodeCount": 1, "customToolkitSettings": {}, "jobPreparation": {"commandLine": "nvidia-smi -L"}}),
    );
    assert_eq!(fx.plan().job_preparation[0].program, words(&["nvidia-smi", "-L"]));
}

#[test]
fn secrets_reach_the_environment_but_never_debug_output() {
    let mut fx = Fixture::new(json!({
        "nodeCount": 1,
        "customToolkitSettings": {"commandLine": "true"},
        "jobPreparation": {"commandLine": "true"},
        "secrets": [{"name": "TOKEN", "value": "in-spec-hunter2"}, {"name": "KEY", "value": "ignored"}],
    }));
    fx.spec.secrets[1].value = None; // as loaded from the store
    fx.secrets = vec![("KEY".into(), SecretValue::new("given-s3cr3t"))];
    let plan = fx.plan();
    let all: Vec<(&str, &str)> = plan.environment(plan.primary()).collect();
    assert!(all.contains(&("TOKEN", "in-spec-hunter2")));
    assert!(all.contains(&("KEY", "given-s3cr3t")));
    let prep: Vec<(&str, &str)> = plan.environment(&plan.job_preparation[0]).collect();
    assert!(prep.contains(&("KEY", "given-s3cr3t")));
    assert_eq!(plan.primary().env.get("KEY"), None, "secrets stay out of env");
    for text in [format!("{plan:?}"), format!("{plan:#?}"), format!("{:?}", fx.request())] {
        assert!(text.contains("KEY"), "names are shown");
        assert!(!text.contains("given-s3cr3t"), "{text}");
        assert!(!text.contains("in-spec-hunter2"), "{text}");
    }
}

#[test]
fn a_secret_without_a_value_is_an_error() {
    let mut fx = Fixture::new(json!({
        "nodeCount": 1,
        "customToolkitSettings": {"commandLine": "true"},
        "secrets": [{"name": "TOKEN", "value": "x"}],
    }));
    fx.spec.secrets[0].value = None;
    assert_eq!(plan(&fx.request()).unwrap_err(), PlanError::MissingSecret("TOKEN".into()));
}

#[test]
fn requests_that_do_not_match_the_job_are_refused() {
    let mut fx = Fixture::new(json!({"nodeCount": 2, "customToolkitSettings": {}}));
    fx.nodes.pop();
    assert_eq!(plan(&fx.request()).unwrap_err(), PlanError::Placement { given: 1, wanted: 2 });

    let mut fx = Fixture::new(
        json!({"nodeCount": 1, "customToolkitSettings": {}, "inputDirectories": [{"id": "A", "path": "/a"}]}),
    );
    fx.paths.inputs.clear();
    assert_eq!(plan(&fx.request()).unwrap_err(), PlanError::MissingDirectory { kind: "input", id: "A".into() });

    let mut fx = Fixture::new(
        json!({"nodeCount": 1, "customToolkitSettings": {}, "outputDirectories": [{"id": "B", "pathPrefix": "/b"}]}),
    );
    fx.paths.outputs.clear();
    assert_eq!(plan(&fx.request()).unwrap_err(), PlanError::MissingDirectory { kind: "output", id: "B".into() });

    let mut fx = custom("true");
    fx.spec.custom_toolkit_settings = None;
    assert!(matches!(plan(&fx.request()).unwrap_err(), PlanError::Spec(_)));
    assert!(matches!(ports_needed(&fx.spec).unwrap_err(), PlanError::Spec(_)));
}

#[test]
fn plan_errors_become_engine_errors() {
    let err: crate::engine::Error = PlanError::MissingSecret("T".into()).into();
    assert!(matches!(err, crate::engine::Error::Validation(_)));
    let err: crate::engine::Error = PlanError::Ports { needed: 3, given: 1 }.into();
    assert_eq!(err.to_string(), "the job needs 3 TCP ports but 1 were reserved");
}
