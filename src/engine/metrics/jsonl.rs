//! The line format `batchai.log_metric` writes: one JSON object per line,
//! `{"name": "loss", "value": 0.25, "step": 3, "time": 1764630000.125}` (`step` optional).
//! Non-finite values are written as the strings `"nan"`, `"inf"` and `"-inf"`, since JSON has no
//! literal for them and a diverged loss must still reach the policy.

use serde_json::Value;

use super::MetricPoint;

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "nan" | "NaN" => Some(f64::NAN),
            "inf" | "Infinity" => Some(f64::INFINITY),
            "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// One line, or `None` for a line that is not a metric point (skipped, never fatal: a script
/// may write anything into its own folder).
pub fn parse_line(line: &str) -> Option<MetricPoint> {
    let Value::Object(fields) = serde_json::from_str::<Value>(line.trim()).ok()? else {
        return None;
    };
    let name = fields.get("name")?.as_str()?.to_string();
    let value = number(fields.get("value")?)?;
    let step = match fields.get("step") {
        None | Some(Value::Null) => None,
        Some(step) => Some(step.as_u64()?),
    };
    let time = fields.get("time").and_then(Value::as_f64).unwrap_or(0.0);
    Some(MetricPoint { name, step, value, time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_with_and_without_steps_and_non_finite_values() {
        let p = parse_line(r#"{"name": "loss", "value": -0.5, "step": 3, "time": 12.5}"#).unwrap();
        assert_eq!(p, MetricPoint { name: "loss".into(), step: Some(3), value: -0.5, time: 12.5 });
        let p = parse_line(r#"{"name": "acc", "value": 1, "time": 1}"#).unwrap();
        assert_eq!((p.step, p.value), (None, 1.0));
        assert!(parse_line(r#"{"name": "loss", "value": "nan", "time": 1}"#).unwrap().value.is_nan());
        assert_eq!(parse_line(r#"{"name": "l", "value": "-inf"}"#).unwrap().value, f64::NEG_INFINITY);
        for bad in [
            "",
            "{",
            "[]",
            r#"{"value": 1}"#,
            r#"{"name": "l", "value": "x"}"#,
            r#"{"name": "l", "value": 1, "step": -1}"#,
        ] {
            assert_eq!(parse_line(bad), None, "{bad}");
        }
    }
}
