//! JSON in, typed specs out, with errors that name the field, the value and the rule.
//!
//! serde reports problems as prose ("invalid type: string \"two\", expected u32"). This module
//! turns each into a [`ValidationError`]: the dotted path comes from `serde_path_to_error`, the
//! value is looked up in the parsed document (secrets masked), and the rule is reworded for people.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::engine::error::ValidationError;

use super::validate;

/// Parse JSON text into `T`.
pub fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, ValidationError> {
    from_value(parse_text(text)?)
}

pub fn parse_text(text: &str) -> Result<Value, ValidationError> {
    serde_json::from_str(text).map_err(|e| {
        let reason = e.to_string();
        let reason = reason.split(" at line ").next().unwrap_or(&reason).to_string();
        ValidationError::new(
            "(document)",
            format!("line {} column {}", e.line(), e.column()),
            format!("must be well-formed JSON: {reason}"),
        )
    })
}

/// Convert a parsed document into `T`.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValidationError> {
    if !value.is_object() {
        return Err(ValidationError::new("(document)", validate::show(&value), "must be a JSON object"));
    }
    let original = value.clone();
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        describe(&path, &e.into_inner().to_string(), &original)
    })
}

/// A serde error at `path` (dotted, empty for the top) as a [`ValidationError`], showing the value
/// found there in `document`.
pub fn describe(path: &str, message: &str, document: &Value) -> ValidationError {
    let join = |name: &str| if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
    let value_at = |field: &str| render(field, lookup(document, field));

    if let Some(rest) = message.strip_prefix("unknown field `") {
        // The path already ends at the unknown key.
        let (_, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let field = path.to_string();
        let expected = tail.trim_start_matches(", ").replace('`', "");
        let rule = if expected.starts_with("there are no fields") {
            "is not a known field: this object takes no fields".to_string()
        } else {
            format!("is not a known field ({expected})")
        };
        return ValidationError::new(field.clone(), value_at(&field), rule);
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        return ValidationError::new(join(name), "null", "is required");
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (_, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = tail.trim_start_matches(", expected ").replace('`', "");
        return ValidationError::new(path, value_at(path), format!("must be {expected}"));
    }
    let expected = message.rsplit_once(", expected ").map(|(_, e)| e);
    let rule = match expected {
        Some(e) => format!("must be {}", friendly(e)),
        None => message.trim_start_matches("invalid duration: ").to_string(),
    };
    let rule = if message.starts_with("invalid duration") { format!("must be a duration: {rule}") } else { rule };
    ValidationError::new(path, value_at(path), rule)
}

fn friendly(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".to_string(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_string(),
        "f32" | "f64" => "a number".to_string(),
        "a sequence" => "a list".to_string(),
        "a map" => "an object".to_string(),
        e if e.starts_with("struct ") => "an object".to_string(),
        e => e.to_string(),
    }
}

/// Follow a `a.b[2].c` path through the document.
fn lookup<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = document;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            current = current.get(key)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            current = current.get(index.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(current)
}

/// Values of secret fields never reach a message.
fn render(field: &str, value: Option<&Value>) -> String {
    let lower = field.to_ascii_lowercase();
    let secret = (lower.contains("secrets[") && lower.ends_with(".value"))
        || lower.ends_with("password")
        || lower.ends_with("accountkey")
        || lower.ends_with("credentials");
    match value {
        _ if secret => "\"<secret>\"".to_string(),
        Some(v) => validate::show(v),
        None => "null".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::{ClusterSpec, JobSpec};

    fn job_err(text: &str) -> ValidationError {
        from_text::<JobSpec>(text).unwrap_err()
    }

    #[test]
    fn wrong_type_names_path_value_and_rule() {
        let e = job_err(r#"{"cluster": "c", "nodeCount": "two", "customToolkitSettings": {}}"#);
        assert_eq!(
            (e.field.as_str(), e.value.as_str(), e.rule.as_str()),
            ("nodeCount", "\"two\"", "must be a whole number, 0 or more")
        );
        let e = job_err(r#"{"cluster": "c", "nodeCount": -1}"#);
        assert_eq!((e.field.as_str(), e.value.as_str()), ("nodeCount", "-1"));
    }

    #[test]
    fn unknown_and_missing_fields() {
        let e = job_err(r#"{"cluster": "c", "nodeCount": 1, "nodeCont": 3}"#);
        assert_eq!(e.field, "nodeCont");
        assert!(e.rule.contains("not a known field"), "{e}");
        let e = job_err(r#"{"cluster": "c"}"#);
        assert_eq!((e.field.as_str(), e.rule.as_str()), ("nodeCount", "is required"));
        let e = job_err(r#"{"cluster": "c", "nodeCount": 1, "environmentVariables": [{"name": "A"}]}"#);
        assert_eq!(e.field, "environmentVariables[0].value");
    }

    #[test]
    fn enums_list_their_values() {
        let e = job_err(r#"{"cluster": "c", "nodeCount": 1, "schedulingPriority": "urgent"}"#);
        assert_eq!(e.field, "schedulingPriority");
        assert!(e.rule.contains("low, normal, high"), "{e}");
        let e = from_text::<ClusterSpec>(r#"{"scaleSettings": {"manual": {"nodeDeallocationOption": "drop"}}}"#)
            .unwrap_err();
        assert_eq!(e.field, "scaleSettings.manual.nodeDeallocationOption");
    }

    #[test]
    fn durations_and_malformed_documents() {
        let e = job_err(r#"{"cluster": "c", "nodeCount": 1, "constraints": {"maxWallClockTime": "P1Y"}}"#);
        assert_eq!(e.field, "constraints.maxWallClockTime");
        assert!(e.rule.contains("years and months"), "{e}");
        let e = job_err(r#"{"cluster": "c", "nodeCount": 1,"#);
        assert_eq!(e.field, "(document)");
        assert!(e.rule.starts_with("must be well-formed JSON"), "{e}");
        assert_eq!(job_err("[1]").rule, "must be a JSON object");
    }

    #[test]
    fn secret_values_are_masked_in_errors() {
        let e = job_err(r#"{"cluster": "c", "nodeCount": 1, "secrets": [{"name": "T", "value": 42}]}"#);
        assert_eq!(e.field, "secrets[0].value");
        assert_eq!(e.value, "\"<secret>\"");
    }
}
