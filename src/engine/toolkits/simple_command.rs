//! Deciding when a command line can skip the shell.
//!
//! Batch AI ran command lines through a shell. Starting `bash` costs a few milliseconds per
//! process, which dominates a benchmark of 1000 no-op jobs, so a line that bash would split into
//! plain words, with nothing to expand, redirect or chain, is planned as a direct exec of those
//! words instead ([`Program::Direct`](super::Program)). The test is deliberately conservative:
//! any character that means something to bash anywhere in a word (quotes, `$`, globs, `~`, `#`,
//! `{}`, `!`, redirections, separators, backslashes, newlines, non-ASCII) sends the whole line to
//! bash. Two more cases keep bash: a first word that is an assignment (`A=1 cmd`), and a first
//! word that bash runs itself (keywords like `time`, builtins that change the shell like `cd`,
//! `exec`, `source`). Builtins that also exist as programs (`true`, `echo`, `printf`, `kill`)
//! may run directly: the program behaves the same.
//!
//! [`path_word`] goes the other way: it turns a path from the settings into one shell word that
//! still expands `$VARIABLES` and a leading `~`, as Batch AI's recipes expect
//! (`$AZ_BATCHAI_INPUT_SCRIPTS/train.py`), but is not split at spaces. [`quote_word`] makes a
//! fully literal word, for turning an argv back into a line.

use std::borrow::Cow;

/// Bash keywords, and builtins that only make sense inside the shell or change it. As the first
/// word of a line they keep the line in bash even when it is otherwise plain.
const SHELL_ONLY: &[&str] = &[
    // keywords
    "case",
    "coproc",
    "do",
    "done",
    "elif",
    "else",
    "esac",
    "fi",
    "for",
    "function",
    "if",
    "in",
    "select",
    "then",
    "time",
    "until",
    "while",
    // builtins with no equivalent program, or that act on the shell itself
    ".",
    ":",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "declare",
    "dirs",
    "disown",
    "enable",
    "eval",
    "exec",
    "exit",
    "export",
    "fc",
    "fg",
    "getopts",
    "hash",
    "help",
    "history",
    "jobs",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "pushd",
    "read",
    "readarray",
    "readonly",
    "return",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "times",
    "trap",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "wait",
];

/// Characters that are literal in every position of an unquoted bash word.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '=' | ':' | ',' | '+' | '@' | '%' | '^')
}

/// The words of `line` when bash would run it as one plain command with exactly these words;
/// `None` when the line needs the shell (or is blank).
pub fn simple_words(line: &str) -> Option<Vec<&str>> {
    if !line.chars().all(|c| is_plain(c) || c == ' ' || c == '\t') {
        return None;
    }
    let words: Vec<&str> = line.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    let first = *words.first()?;
    if first.contains('=') || SHELL_ONLY.contains(&first) {
        return None;
    }
    Some(words)
}

/// `path` as one shell word: unchanged when it is plain; otherwise double-quoted so spaces do
/// not split it while `$VAR`, `${VAR}` still expand, with a leading `~` or `~user` left outside
/// the quotes so it expands too.
pub fn path_word(path: &str) -> String {
    if !path.is_empty() && path.chars().all(is_plain) {
        return path.to_string();
    }
    // Bash expands `~` only when nothing up to the first slash is quoted, so the slash stays
    // outside the quotes too.
    let (tilde, rest) = match path.strip_prefix('~') {
        Some(after) => {
            let end = after.find('/').map_or(after.len(), |slash| slash + 1);
            let user = after[..end].trim_end_matches('/');
            if user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
                path.split_at(1 + end)
            } else {
                ("", path)
            }
        }
        None => ("", path),
    };
    if !tilde.is_empty() && rest.is_empty() {
        return tilde.to_string();
    }
    let mut word = String::with_capacity(path.len() + 2);
    word.push_str(tilde);
    word.push('"');
    for c in rest.chars() {
        if matches!(c, '"' | '\\' | '`') {
            word.push('\\');
        }
        word.push(c);
    }
    word.push('"');
    word
}

/// `word` as one literal shell word: unchanged when plain, else single-quoted.
pub fn quote_word(word: &str) -> Cow<'_, str> {
    if !word.is_empty() && word.chars().all(is_plain) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn direct(line: &str, words: &[&str]) {
        assert_eq!(simple_words(line).as_deref(), Some(words), "{line:?} should run directly");
    }

    #[track_caller]
    fn shell(line: &str) {
        assert_eq!(simple_words(line), None, "{line:?} needs bash");
    }

    #[test]
    fn plain_commands_run_directly() {
        direct("true", &["true"]);
        direct("python train.py --epochs 3", &["python", "train.py", "--epochs", "3"]);
        direct("  /usr/bin/python3\t-u   x.py  ", &["/usr/bin/python3", "-u", "x.py"]);
        direct("python x.py --lr=0.01 --hosts=a:1,b:2", &["python", "x.py", "--lr=0.01", "--hosts=a:1,b:2"]);
        direct("echo 50% user@host +1 a^b", &["echo", "50%", "user@host", "+1", "a^b"]);
        direct("./run.sh -", &["./run.sh", "-"]);
        // `=` is only an assignment in the first word.
        direct("env A=1 python", &["env", "A=1", "python"]);
        // Builtins that exist as programs behave the same either way.
        direct("echo hello", &["echo", "hello"]);
        direct("printf x", &["printf", "x"]);
    }

    #[test]
    fn expansions_and_quotes_need_bash() {
        shell("python $AZ_BATCHAI_INPUT_SCRIPT/train.py");
        shell("echo ${HOME}");
        shell("echo $(date)");
        shell("echo `date`");
        shell("python 'my script.py'");
        shell("python \"my script.py\"");
        shell("python my\\ script.py");
        shell("ls *.py");
        shell("ls file?.txt");
        shell("ls [ab].txt");
        shell("echo {a,b}");
        shell("cat ~/notes");
        shell("python x.py # comment");
        shell("! false");
    }

    #[test]
    fn operators_and_redirections_need_bash() {
        shell("make; make install");
        shell("a && b");
        shell("a || b");
        shell("a | b");
        shell("sleep 10 &");
        shell("echo hi > out.txt");
        shell("cat < in.txt");
        shell("(cd x)");
        shell("echo one\necho two");
        shell("echo one\r");
    }

    #[test]
    fn shell_words_in_first_position_need_bash() {
        shell("A=1 python x.py");
        shell("cd /tmp");
        shell("exit 3");
        shell("export X");
        shell("source env.sh");
        shell(". env.sh");
        shell("time python x.py");
        shell("exec python x.py");
        shell("ulimit -n 1024");
        shell("wait");
        // ...but only in first position.
        direct("python cd.py exit", &["python", "cd.py", "exit"]);
    }

    #[test]
    fn blank_and_unusual_text_needs_bash() {
        shell("");
        shell("   \t ");
        shell("python café.py");
        shell("python\u{a0}x.py");
    }

    #[test]
    fn paths_become_one_word() {
        assert_eq!(path_word("/usr/bin/python3"), "/usr/bin/python3");
        assert_eq!(path_word("$AZ_BATCHAI_INPUT_SCRIPTS/train.py"), "\"$AZ_BATCHAI_INPUT_SCRIPTS/train.py\"");
        assert_eq!(path_word("/home/me/My Project/train.py"), "\"/home/me/My Project/train.py\"");
        assert_eq!(path_word("~/train.py"), "~/\"train.py\"");
        assert_eq!(path_word("~alice/x y.py"), "~alice/\"x y.py\"");
        assert_eq!(path_word("~"), "~");
        assert_eq!(path_word("~/"), "~/");
        assert_eq!(path_word("~$X/y"), "\"~$X/y\"");
        assert_eq!(path_word("a\"b\\c`d"), "\"a\\\"b\\\\c\\`d\"");
        assert_eq!(path_word(""), "\"\"");
        // A plain path stays a plain word, so a line made of plain paths still runs directly.
        assert_eq!(simple_words(&path_word("/opt/py/bin/python")).unwrap(), ["/opt/py/bin/python"]);
    }

    #[test]
    fn quoted_words_are_literal() {
        assert_eq!(quote_word("--np"), "--np");
        assert_eq!(quote_word(""), "''");
        assert_eq!(quote_word("a b$X"), "'a b$X'");
        assert_eq!(quote_word("it's"), "'it'\\''s'");
    }
}
