//! One value per file: list the files under a folder whose relative path matches a glob.
//!
//! Theory of operation: Batch AI's `FileParameter` walked a blob container or a file share and
//! kept the paths matching a regex, one job per file. Here the folder is local (or a mount), the
//! filter is a glob on the path relative to the folder (`*` and `?` stay within one path
//! component, `**` crosses them, `[a-z]` and `[!x]` are classes), and the result is sorted so the
//! list, and so the sweep, is the same on every run. This is the only module of the sweep engine
//! that does I/O, and it runs once, when the space is built; samplers only see the list.

use std::path::Path;

use crate::engine::error::{Error, ValidationError};
use crate::engine::sweep::space::Param;

/// The `files` parameter for `folder` and `pattern` (the listing is stored in the parameter).
pub fn files_param(folder: &str, pattern: &str) -> Result<Param, Error> {
    if pattern.is_empty() {
        return Err(ValidationError::new("pattern", "\"\"", "must not be empty (use \"**\" for every file)").into());
    }
    let root = Path::new(folder);
    if !root.is_dir() {
        return Err(ValidationError::new("folder", format!("{folder:?}"), "must be an existing folder").into());
    }
    let mut found = Vec::new();
    walk(root, "", pattern, &mut found)?;
    found.sort();
    let param = Param::Files { folder: folder.to_string(), pattern: pattern.to_string(), values: found };
    param.validate("")?;
    Ok(param)
}

fn walk(dir: &Path, prefix: &str, pattern: &str, found: &mut Vec<String>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::file("listing", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::file("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let path = entry.path();
        // Follows symlinks, as a mount's files often are links.
        if path.is_dir() {
            walk(&path, &relative, pattern, found)?;
        } else if glob_match(pattern, &relative) {
            found.push(path.display().to_string());
        }
    }
    Ok(())
}

/// Whether `text` (a relative path with `/` separators) matches the glob `pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    matches(&p, &t)
}

fn matches(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') if p.get(1) == Some(&'*') => {
            // `**/` also matches nothing, so `**/*.txt` finds top-level files too.
            // `**/` resumes only at a component boundary; a bare `**` anywhere.
            let slash = p.get(2) == Some(&'/');
            let rest = if slash { &p[3..] } else { &p[2..] };
            (0..=t.len()).any(|i| (!slash || i == 0 || t[i - 1] == '/') && matches(rest, &t[i..]))
        }
        Some('*') => {
            let mut i = 0;
            loop {
                if matches(&p[1..], &t[i..]) {
                    return true;
                }
                if i == t.len() || t[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Some('?') => !t.is_empty() && t[0] != '/' && matches(&p[1..], &t[1..]),
        Some('[') => match (class(&p[1..]), t.first()) {
            (Some((ok, used)), Some(&c)) if c != '/' => ok(c) && matches(&p[1 + used..], &t[1..]),
            (None, Some(&c)) => c == '[' && matches(&p[1..], &t[1..]),
            _ => false,
        },
        Some(&c) => t.first() == Some(&c) && matches(&p[1..], &t[1..]),
    }
}

/// Parse a class body after `[`; returns the test and how many pattern chars it used (with `]`).
#[allow(clippy::type_complexity)]
fn class(p: &[char]) -> Option<(Box<dyn Fn(char) -> bool>, usize)> {
    let negate = matches!(p.first(), Some('!') | Some('^'));
    let start = usize::from(negate);
    let end = p.iter().enumerate().skip(start + 1).find(|(_, c)| **c == ']').map(|(i, _)| i)?;
    let body: Vec<char> = p[start..end].to_vec();
    let test = move |c: char| {
        let mut i = 0;
        let mut hit = false;
        while i < body.len() {
            if i + 2 < body.len() && body[i + 1] == '-' {
                hit |= body[i] <= c && c <= body[i + 2];
                i += 3;
            } else {
                hit |= body[i] == c;
                i += 1;
            }
        }
        hit != negate
    };
    Some((Box::new(test), end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"), "* stays in one component");
        assert!(glob_match("**/*.txt", "d/e/a.txt"));
        assert!(glob_match("**/*.txt", "a.txt"));
        assert!(!glob_match("**/b.txt", "ab.txt"));
        assert!(glob_match("**", "d/e/a.bin"));
        assert!(glob_match("part-?[0-9].csv", "part-a7.csv"));
        assert!(!glob_match("part-[!0-9].csv", "part-7.csv"));
        assert!(!glob_match("a?b", "a/b"));
    }

    #[test]
    fn files_are_listed_sorted_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.txt", "a.txt", "c.bin", "sub/d.txt"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        let folder = dir.path().display().to_string();
        let Param::Files { values, .. } = files_param(&folder, "**/*.txt").unwrap() else { panic!() };
        let rel: Vec<String> = values.iter().map(|v| v.trim_start_matches(&folder).to_string()).collect();
        assert_eq!(rel, ["/a.txt", "/b.txt", "/sub/d.txt"]);
        let err = files_param(&folder, "*.csv").unwrap_err();
        assert!(err.to_string().contains("matches no file"), "{err}");
        let err = files_param(&format!("{folder}/nope"), "*").unwrap_err();
        assert!(err.to_string().contains("existing folder"), "{err}");
    }
}
