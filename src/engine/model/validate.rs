//! Field-level rules shared by every resource.
//!
//! Each check returns a [`ValidationError`] naming the field (a dotted camelCase path, as in Batch
//! AI's JSON), the offending value rendered as JSON, and the rule in words. Checks stop at the first
//! problem: one clear message beats a list of consequences of the same mistake.

use crate::engine::error::ValidationError;

pub type Check = Result<(), ValidationError>;

/// Render a value for an error message: JSON, cut to a readable length.
pub fn show(value: &impl serde::Serialize) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "<unprintable>".to_string());
    truncate(&text, 80)
}

pub fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max_chars).collect();
        format!("{cut}…")
    }
}

pub fn fail(field: &str, value: &impl serde::Serialize, rule: &str) -> Check {
    Err(ValidationError::new(field, show(value), rule))
}

/// Names of workspaces, clusters, file servers, experiments and jobs: Batch AI's `^[-\w]{1,64}$`.
pub fn name(field: &str, value: &str) -> Check {
    let count = value.chars().count();
    let ok = (1..=64).contains(&count) && value.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        fail(field, &value, "must be 1 to 64 characters, each a letter, digit, '_' or '-' (Batch AI's ^[-\\w]{1,64}$)")
    }
}

/// Environment variable names as a POSIX shell accepts them.
pub fn env_name(field: &str, value: &str) -> Check {
    let mut chars = value.chars();
    let ok = match chars.next() {
        Some(first) => {
            (first.is_ascii_alphabetic() || first == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    };
    if !ok {
        return fail(
            field,
            &value,
            "must be a shell variable name: a letter or '_' followed by letters, digits or '_'",
        );
    }
    if value.starts_with("AZ_BATCHAI_") || value.starts_with("BATCHAI_") {
        return fail(
            field,
            &value,
            "must not start with AZ_BATCHAI_ or BATCHAI_ (batchai sets those variables itself)",
        );
    }
    Ok(())
}

/// Ids of input and output directories, which become the suffix of `AZ_BATCHAI_INPUT_<id>`.
pub fn directory_id(field: &str, value: &str) -> Check {
    let ok = !value.is_empty() && value.len() <= 64 && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        fail(
            field,
            &value,
            "must be 1 to 64 ASCII letters, digits or '_' (it becomes part of an environment variable name)",
        )
    }
}

/// A path below a mount root: relative, no `..`, no empty components.
pub fn relative_path(field: &str, value: &str) -> Check {
    let ok = !value.is_empty()
        && !value.starts_with('/')
        && value.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        && !value.contains('\0');
    if ok { Ok(()) } else { fail(field, &value, "must be a relative path without '.', '..' or empty components") }
}

/// A value that becomes one folder name on disk (a storage account's stand-in folder, say): one
/// path component, so `../..` cannot put a folder outside the workspace. `what` says what to give
/// instead, for the message.
pub fn path_component(field: &str, value: &str, what: &str) -> Check {
    let ok = !value.trim().is_empty() && !value.contains(['/', '\0']) && value != "." && value != "..";
    if ok {
        Ok(())
    } else {
        fail(
            field,
            &value,
            &format!(
                "must be a single folder name: not empty, without '/' or NUL, and not '.' or '..' (it names a folder batchai creates); give {what}"
            ),
        )
    }
}

pub fn not_blank(field: &str, value: &str) -> Check {
    if value.trim().is_empty() || value.contains('\0') { fail(field, &value, "must not be empty") } else { Ok(()) }
}

pub fn range_u32(field: &str, value: u32, low: u32, high: u32) -> Check {
    if (low..=high).contains(&value) {
        Ok(())
    } else {
        fail(field, &value, &format!("must be between {low} and {high}"))
    }
}

/// Every item's key must be unique within its list (env var names, directory ids, mount paths).
pub fn unique<'a>(field: &str, keys: impl IntoIterator<Item = &'a str>, what: &str) -> Check {
    let mut seen = std::collections::HashSet::new();
    for key in keys {
        if !seen.insert(key) {
            return fail(field, &key, &format!("is given twice; each {what} must be unique"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_batch_ai_rule() {
        assert!(name("name", "job-1_a").is_ok());
        assert!(name("name", "é").is_ok());
        assert!(name("name", &"a".repeat(64)).is_ok());
        for bad in ["", "a b", "a/b", "a.b", &"a".repeat(65)] {
            let err = name("name", bad).unwrap_err();
            assert_eq!(err.field, "name");
            assert!(err.rule.contains("1 to 64"), "{err}");
        }
    }

    #[test]
    fn env_names_reject_reserved_prefixes() {
        assert!(env_name("e", "LR").is_ok());
        assert!(env_name("e", "_x1").is_ok());
        assert!(env_name("e", "1X").is_err());
        assert!(env_name("e", "A-B").is_err());
        assert!(env_name("e", "AZ_BATCHAI_MOUNT_ROOT").unwrap_err().rule.contains("sets those"));
    }

    #[test]
    fn relative_paths_cannot_escape() {
        assert!(relative_path("p", "nfs/data").is_ok());
        for bad in ["", "/abs", "../x", "a/../b", "a//b", "./a"] {
            assert!(relative_path("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_components_are_single_names() {
        assert!(path_component("a", "acct", "x").is_ok());
        assert!(path_component("a", "my.account-1", "x").is_ok());
        for bad in ["", " ", ".", "..", "../..", "a/b", "/", "a\0b"] {
            let err = path_component("a", bad, "the account's name").unwrap_err();
            assert!(err.rule.contains("single folder name") && err.rule.contains("the account's name"), "{bad}: {err}");
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let err = not_blank("f", "   ").unwrap_err();
        assert_eq!(err.value, "\"   \"");
        assert!(show(&"x".repeat(200)).ends_with('…'));
    }
}
