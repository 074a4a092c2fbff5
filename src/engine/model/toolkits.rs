//! The nine toolkit settings of a job (spec §1.8, "Toolkit settings"). A job carries exactly one.
//!
//! These are descriptions only; how each toolkit is launched (process counts per node, MPI, the
//! TensorFlow cluster spec) lives in `engine::toolkits`.

use serde::{Deserialize, Serialize};

use super::validate::{self, Check};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolType {
    Cntk,
    Tensorflow,
    Caffe,
    Caffe2,
    Chainer,
    Horovod,
    Custommpi,
    Custom,
    Pytorch,
}

impl ToolType {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolType::Cntk => "cntk",
            ToolType::Tensorflow => "tensorflow",
            ToolType::Caffe => "caffe",
            ToolType::Caffe2 => "caffe2",
            ToolType::Chainer => "chainer",
            ToolType::Horovod => "horovod",
            ToolType::Custommpi => "custommpi",
            ToolType::Custom => "custom",
            ToolType::Pytorch => "pytorch",
        }
    }

    pub const ALL: [ToolType; 9] = [
        ToolType::Cntk,
        ToolType::Tensorflow,
        ToolType::Caffe,
        ToolType::Caffe2,
        ToolType::Chainer,
        ToolType::Horovod,
        ToolType::Custommpi,
        ToolType::Custom,
        ToolType::Pytorch,
    ];

    /// The inverse of [`ToolType::as_str`].
    pub fn parse(text: &str) -> Option<ToolType> {
        ToolType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// The largest process count accepted: far beyond any node, but it stops typos like 1e9.
pub const MAX_PROCESS_COUNT: u32 = 4096;

fn process_count(field: &str, value: Option<u32>) -> Check {
    match value {
        Some(n) => validate::range_u32(field, n, 1, MAX_PROCESS_COUNT),
        None => Ok(()),
    }
}

fn optional_path(field: &str, value: &Option<String>) -> Check {
    match value {
        Some(v) => validate::not_blank(field, v),
        None => Ok(()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TensorFlowSettings {
    pub python_script_file_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_interpreter_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_command_line_args: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_command_line_args: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_server_command_line_args: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_server_count: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HorovodSettings {
    pub python_script_file_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_interpreter_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line_args: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_count: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CntkLanguage {
    BrainScript,
    #[default]
    Python,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CntkSettings {
    #[serde(default)]
    pub language_type: CntkLanguage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_script_file_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_interpreter_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line_args: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_count: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaffeSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_script_file_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_interpreter_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line_args: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_count: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Caffe2Settings {
    pub python_script_file_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_interpreter_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line_args: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PyTorchSettings {
    pub python_script_file_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_interpreter_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line_args: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_count: Option<u32>,
    /// `TCP`, `Gloo` or `MPI` (any case), as Batch AI accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication_backend: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainerSettings {
    pub python_script_file_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_interpreter_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line_args: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_count: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomMpiSettings {
    pub command_line: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_count: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomToolkitSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
}

/// A borrowed view of the one toolkit a job names.
#[derive(Debug, Clone, Copy)]
pub enum Toolkit<'a> {
    Cntk(&'a CntkSettings),
    PyTorch(&'a PyTorchSettings),
    TensorFlow(&'a TensorFlowSettings),
    Caffe(&'a CaffeSettings),
    Caffe2(&'a Caffe2Settings),
    Chainer(&'a ChainerSettings),
    CustomToolkit(&'a CustomToolkitSettings),
    CustomMpi(&'a CustomMpiSettings),
    Horovod(&'a HorovodSettings),
}

impl Toolkit<'_> {
    pub fn tool_type(&self) -> ToolType {
        match self {
            Toolkit::Cntk(_) => ToolType::Cntk,
            Toolkit::PyTorch(_) => ToolType::Pytorch,
            Toolkit::TensorFlow(_) => ToolType::Tensorflow,
            Toolkit::Caffe(_) => ToolType::Caffe,
            Toolkit::Caffe2(_) => ToolType::Caffe2,
            Toolkit::Chainer(_) => ToolType::Chainer,
            Toolkit::CustomToolkit(_) => ToolType::Custom,
            Toolkit::CustomMpi(_) => ToolType::Custommpi,
            Toolkit::Horovod(_) => ToolType::Horovod,
        }
    }

    /// The settings key in Batch AI's JSON, used as the field prefix in errors.
    pub fn field(&self) -> &'static str {
        match self {
            Toolkit::Cntk(_) => "cntkSettings",
            Toolkit::PyTorch(_) => "pyTorchSettings",
            Toolkit::TensorFlow(_) => "tensorFlowSettings",
            Toolkit::Caffe(_) => "caffeSettings",
            Toolkit::Caffe2(_) => "caffe2Settings",
            Toolkit::Chainer(_) => "chainerSettings",
            Toolkit::CustomToolkit(_) => "customToolkitSettings",
            Toolkit::CustomMpi(_) => "customMpiSettings",
            Toolkit::Horovod(_) => "horovodSettings",
        }
    }

    /// Batch AI's per-toolkit rules; `node_count` is the job's.
    pub fn validate(&self, node_count: u32) -> Check {
        let f = |name: &str| format!("{}.{name}", self.field());
        match self {
            Toolkit::TensorFlow(s) => {
                validate::not_blank(&f("pythonScriptFilePath"), &s.python_script_file_path)?;
                optional_path(&f("pythonInterpreterPath"), &s.python_interpreter_path)?;
                if let Some(w) = s.worker_count {
                    validate::range_u32(&f("workerCount"), w, 1, MAX_PROCESS_COUNT)?;
                }
                if let Some(ps) = s.parameter_server_count
                    && ps > node_count
                {
                    return validate::fail(
                        &f("parameterServerCount"),
                        &ps,
                        &format!(
                            "must not exceed the job's nodeCount ({node_count}): Batch AI runs at most one parameter server per node"
                        ),
                    );
                }
                Ok(())
            }
            Toolkit::Horovod(s) => {
                validate::not_blank(&f("pythonScriptFilePath"), &s.python_script_file_path)?;
                optional_path(&f("pythonInterpreterPath"), &s.python_interpreter_path)?;
                process_count(&f("processCount"), s.process_count)
            }
            Toolkit::Cntk(s) => {
                match s.language_type {
                    CntkLanguage::BrainScript => {
                        match &s.config_file_path {
                            Some(p) => validate::not_blank(&f("configFilePath"), p)?,
                            None => {
                                return validate::fail(
                                    &f("configFilePath"),
                                    &(),
                                    "is required when languageType is BrainScript",
                                );
                            }
                        }
                        if let Some(p) = &s.python_script_file_path {
                            return validate::fail(
                                &f("pythonScriptFilePath"),
                                p,
                                "must not be given when languageType is BrainScript",
                            );
                        }
                        if let Some(p) = &s.python_interpreter_path {
                            return validate::fail(
                                &f("pythonInterpreterPath"),
                                p,
                                "must not be given when languageType is BrainScript",
                            );
                        }
                    }
                    CntkLanguage::Python => {
                        match &s.python_script_file_path {
                            Some(p) => validate::not_blank(&f("pythonScriptFilePath"), p)?,
                            None => {
                                return validate::fail(
                                    &f("pythonScriptFilePath"),
                                    &(),
                                    "is required when languageType is Python",
                                );
                            }
                        }
                        if let Some(p) = &s.config_file_path {
                            return validate::fail(
                                &f("configFilePath"),
                                p,
                                "must not be given when languageType is Python (it is for BrainScript)",
                            );
                        }
                        optional_path(&f("pythonInterpreterPath"), &s.python_interpreter_path)?;
                    }
                }
                process_count(&f("processCount"), s.process_count)
            }
            Toolkit::Caffe(s) => {
                match (&s.config_file_path, &s.python_script_file_path) {
                    (Some(_), Some(p)) => {
                        return validate::fail(
                            &f("pythonScriptFilePath"),
                            p,
                            "must not be given together with configFilePath: give exactly one",
                        );
                    }
                    (None, None) => {
                        return validate::fail(
                            &f("configFilePath"),
                            &(),
                            "or pythonScriptFilePath is required: give exactly one",
                        );
                    }
                    (Some(c), None) => {
                        validate::not_blank(&f("configFilePath"), c)?;
                        if let Some(p) = &s.python_interpreter_path {
                            return validate::fail(
                                &f("pythonInterpreterPath"),
                                p,
                                "is only allowed with pythonScriptFilePath",
                            );
                        }
                    }
                    (None, Some(p)) => {
                        validate::not_blank(&f("pythonScriptFilePath"), p)?;
                        optional_path(&f("pythonInterpreterPath"), &s.python_interpreter_path)?;
                    }
                }
                process_count(&f("processCount"), s.process_count)
            }
            Toolkit::Caffe2(s) => {
                validate::not_blank(&f("pythonScriptFilePath"), &s.python_script_file_path)?;
                optional_path(&f("pythonInterpreterPath"), &s.python_interpreter_path)
            }
            Toolkit::PyTorch(s) => {
                validate::not_blank(&f("pythonScriptFilePath"), &s.python_script_file_path)?;
                optional_path(&f("pythonInterpreterPath"), &s.python_interpreter_path)?;
                process_count(&f("processCount"), s.process_count)?;
                if let Some(b) = &s.communication_backend
                    && !["tcp", "gloo", "mpi", "nccl"].contains(&b.to_ascii_lowercase().as_str())
                {
                    return validate::fail(&f("communicationBackend"), b, "must be one of TCP, Gloo, MPI or NCCL");
                }
                Ok(())
            }
            Toolkit::Chainer(s) => {
                validate::not_blank(&f("pythonScriptFilePath"), &s.python_script_file_path)?;
                optional_path(&f("pythonInterpreterPath"), &s.python_interpreter_path)?;
                process_count(&f("processCount"), s.process_count)
            }
            Toolkit::CustomMpi(s) => {
                validate::not_blank(&f("commandLine"), &s.command_line)?;
                process_count(&f("processCount"), s.process_count)
            }
            Toolkit::CustomToolkit(s) => optional_path(&f("commandLine"), &s.command_line),
        }
    }
}
