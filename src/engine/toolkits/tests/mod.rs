//! Plans of whole jobs, one file per toolkit family, from a fixture that places a job on local
//! nodes the way the agent would.

mod caffe;
mod custom;
mod mpi;
mod pytorch;
mod tensorflow;

use serde_json::Value;

use super::*;

/// Everything a request borrows, owned.
struct Fixture {
    spec: JobSpec,
    identity: JobIdentity,
    nodes: Vec<PlacedNode>,
    paths: JobPaths,
    ports: Vec<u16>,
    mpirun: Option<Mpirun>,
    secrets: Vec<(String, SecretValue)>,
}

const FIRST_PORT: u16 = 41000;

impl Fixture {
    /// `settings` is the job's JSON without `cluster`; each node gets one GPU (its index) and 4
    /// CPUs (node i: `4i..4i+4`) at 127.0.0.1, and every input/output directory a path.
    fn new(settings: Value) -> Self {
        let mut json = serde_json::json!({"cluster": "c"});
        json.as_object_mut().unwrap().extend(settings.as_object().unwrap().clone());
        let spec: JobSpec = serde_json::from_value(json).expect("valid job JSON");
        spec.validate().expect("valid job");
        let nodes = (0..spec.node_count as usize)
            .map(|i| PlacedNode {
                id: format!("node-{i}"),
                address: "127.0.0.1".into(),
                gpus: vec![i.to_string()],
                cpus: 4,
                cpu_set: (4 * i as u32..4 * i as u32 + 4).collect(),
                paths: NodePaths {
                    mount_root: format!("/ws/nodes/node-{i}/mounts"),
                    job_mount_root: format!("/ws/nodes/node-{i}/jobs/j1/mounts"),
                    job_temp: format!("/ws/nodes/node-{i}/jobs/j1"),
                    job_temp_root: format!("/ws/nodes/node-{i}/jobs"),
                },
            })
            .collect();
        let paths = JobPaths {
            shared_job_temp: "/ws/jobs/j1/shared".into(),
            stdouterr: "/ws/outputs/seg/stdouterr".into(),
            mpi_host_file: "/ws/jobs/j1/hostfile".into(),
            inputs: spec.input_directories.iter().map(|d| DirectoryPath::new(&d.id, format!("/in/{}", d.id))).collect(),
            outputs: spec
                .output_directories
                .iter()
                .map(|d| DirectoryPath::new(&d.id, format!("/out/{}", d.id)))
                .collect(),
        };
        let identity = JobIdentity {
            workspace: "ws".into(),
            experiment: "exp".into(),
            name: "j1".into(),
            uid: "0123".into(),
            output_path_segment: "ws/experiments/exp/jobs/j1/0123".into(),
        };
        Fixture {
            spec,
            identity,
            nodes,
            paths,
            ports: (FIRST_PORT..FIRST_PORT + 16).collect(),
            mpirun: None,
            secrets: vec![],
        }
    }

    fn with_mpirun(mut self) -> Self {
        self.mpirun = Some(Mpirun { path: "/usr/bin/mpirun".into(), as_root: false });
        self
    }

    fn request(&self) -> LaunchRequest<'_> {
        LaunchRequest {
            spec: &self.spec,
            identity: &self.identity,
            nodes: &self.nodes,
            paths: &self.paths,
            ports: &self.ports,
            python: "python3",
            mpirun: self.mpirun.as_ref(),
            secrets: &self.secrets,
        }
    }

    fn plan(&self) -> LaunchPlan {
        plan(&self.request()).expect("plannable job")
    }
}

fn words(argv: &[&str]) -> Program {
    Program::Direct(argv.iter().map(|w| w.to_string()).collect())
}

fn get<'a>(p: &'a ProcessPlan, name: &str) -> &'a str {
    p.env.get(name).unwrap_or_else(|| panic!("{name} is not set for {:?} {}", p.role, p.index))
}

/// `AZ_BATCHAI_<suffix>`, checking that the `BATCHAI_<suffix>` twin has the same value.
fn az<'a>(p: &'a ProcessPlan, suffix: &str) -> &'a str {
    let original = get(p, &format!("AZ_BATCHAI_{suffix}"));
    assert_eq!(get(p, &format!("BATCHAI_{suffix}")), original, "twin of AZ_BATCHAI_{suffix}");
    original
}

/// `(node, index, role)` of each process.
fn layout(plan: &LaunchPlan) -> Vec<(usize, u32, Role)> {
    plan.processes.iter().map(|p| (p.node, p.index, p.role)).collect()
}

fn stdouts(plan: &LaunchPlan) -> Vec<&str> {
    plan.processes.iter().map(|p| p.stdout.as_str()).collect()
}
