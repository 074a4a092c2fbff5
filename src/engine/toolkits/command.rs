//! The command line each toolkit's settings stand for.
//!
//! Settings are turned into one shell line, as Batch AI did, and nothing in them is substituted
//! here: `$AZ_BATCHAI_*` in paths and `commandLineArgs` is expanded by bash from the process
//! environment, so recipes run unchanged. Paths become one word each ([`path_word`]); arguments
//! are appended as written, since users write them as shell text
//! (`--data_dir=$AZ_BATCHAI_INPUT_DATASET --task_index=$AZ_BATCHAI_TASK_INDEX`).

use super::simple_command::path_word;

fn join(mut line: String, args: Option<&str>) -> String {
    if let Some(args) = args.map(str::trim).filter(|a| !a.is_empty()) {
        line.push(' ');
        line.push_str(args);
    }
    line
}

/// `<python> <script> <args>`.
pub fn python(interpreter: &str, script: &str, args: Option<&str>) -> String {
    join(format!("{} {}", path_word(interpreter), path_word(script)), args)
}

/// CNTK BrainScript: `cntk configFile=<config> <args>`.
pub fn cntk_brainscript(config: &str, args: Option<&str>) -> String {
    join(format!("cntk configFile={}", path_word(config)), args)
}

/// Caffe with a solver file: `caffe train --solver=<config> <args>`.
pub fn caffe_train(config: &str, args: Option<&str>) -> String {
    join(format!("caffe train --solver={}", path_word(config)), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(python("python", "/s/train.py", None), "python /s/train.py");
        assert_eq!(python("python3", "train.py", Some("  --lr 1  ")), "python3 train.py --lr 1");
        assert_eq!(python("python", "t.py", Some("   ")), "python t.py");
        assert_eq!(
            python("/opt/my env/python", "$AZ_BATCHAI_INPUT_S/t.py", Some("--out=$AZ_BATCHAI_OUTPUT_M")),
            "\"/opt/my env/python\" \"$AZ_BATCHAI_INPUT_S/t.py\" --out=$AZ_BATCHAI_OUTPUT_M"
        );
        assert_eq!(cntk_brainscript("/c/a.cntk", Some("x=1")), "cntk configFile=/c/a.cntk x=1");
        assert_eq!(
            caffe_train("$AZ_BATCHAI_INPUT_S/solver.prototxt", None),
            "caffe train --solver=\"$AZ_BATCHAI_INPUT_S/solver.prototxt\""
        );
    }
}
