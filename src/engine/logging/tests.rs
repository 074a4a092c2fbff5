use std::path::Path;

use tracing_subscriber::filter::LevelFilter;

use super::*;

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn log_lines(file: &RotatingFile, level: LevelFilter, lines: usize) {
    tracing::subscriber::with_default(subscriber(file.clone(), level), || {
        for i in 0..lines {
            tracing::info!("line {i:04} {}", "x".repeat(80));
        }
    });
}

/// The numbers of the `line NNNN` entries of a file, in file order.
fn numbers(path: &Path) -> Vec<usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| l.split("line ").nth(1).unwrap()[..4].parse().unwrap()).collect()
}

#[test]
fn the_log_rotates_past_its_cap_and_keeps_only_the_newest_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = RotatingFile::new(dir.path().join("agent.log"), 1000, 2);
    // ~150 bytes a line, 100 lines: 15 KB through a 1000-byte cap, so about 15 rotations.
    log_lines(&file, LevelFilter::INFO, 100);

    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["agent.log", "agent.log.1", "agent.log.2"]);
    // A file is rotated by the line that takes it past the cap: never more than a line over.
    for path in [file.path().to_path_buf(), file.rotated(1), file.rotated(2)] {
        assert!(size(&path) < 1000 + 200, "{} has {} bytes", path.display(), size(&path));
    }
    assert!(size(&file.rotated(1)) >= 1000 && size(&file.rotated(2)) >= 1000);
    // Oldest to newest, the kept files hold the last lines written, without a gap, ending at 99.
    let kept: Vec<usize> =
        [file.rotated(2), file.rotated(1), file.path().to_path_buf()].iter().flat_map(|p| numbers(p)).collect();
    assert_eq!(kept.last(), Some(&99));
    assert_eq!(kept, (kept[0]..100).collect::<Vec<_>>());
    assert!(kept[0] > 50, "older lines were dropped, kept {kept:?}");
}

#[test]
fn writers_racing_a_rotation_never_split_lose_or_reorder_lines() {
    // Four writers with their own handles (as the agent and the supervisor are two processes),
    // ~35 rotations, and enough old files kept to see every line: each line is whole, in exactly
    // one file, and each writer's lines stay in order from the oldest file to the newest.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.log");
    let (writers, lines, cap, keep) = (4, 300, 2000, 100);
    std::thread::scope(|scope| {
        for writer in 0..writers {
            let file = RotatingFile::new(&path, cap, keep);
            scope.spawn(move || {
                for i in 0..lines {
                    file.append(format!("w{writer} line {i:04} {}\n", "y".repeat(40)).as_bytes()).unwrap();
                }
            });
        }
    });
    let file = RotatingFile::new(&path, cap, keep);
    let mut files: Vec<_> = (1..=keep).rev().map(|n| file.rotated(n)).filter(|p| p.exists()).collect();
    assert!(files.len() > 20 && !file.rotated(keep).exists(), "{} rotations", files.len());
    files.push(path.clone());
    let mut seen = vec![Vec::new(); writers];
    for p in &files {
        assert!(size(p) < cap + 60, "{} has {} bytes", p.display(), size(p));
        for line in std::fs::read_to_string(p).unwrap().lines() {
            assert_eq!(line.len(), 2 + 1 + 9 + 1 + 40, "a split line: {line:?}");
            seen[line[1..2].parse::<usize>().unwrap()].push(line[8..12].parse::<usize>().unwrap());
        }
    }
    for numbers in seen {
        assert_eq!(numbers, (0..lines).collect::<Vec<_>>());
    }
}

#[test]
fn lines_carry_time_level_process_and_respect_the_level() {
    let dir = tempfile::tempdir().unwrap();
    let file = RotatingFile::new(dir.path().join("agent.log"), 1 << 20, 1);
    tracing::subscriber::with_default(subscriber(file.clone(), LevelFilter::INFO), || {
        tracing::debug!("hidden at info");
        tracing::warn!(job = "j1", "took a while");
    });
    let text = std::fs::read_to_string(file.path()).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let line = text.lines().next().unwrap();
    // 2026-12-01T21:08:03.123Z WARN  agent[42] tests: took a while job="j1"
    let (time, rest) = line.split_once(' ').unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{line}");
    assert!(rest.starts_with(&format!("WARN  agent[{}] tests: took a while", std::process::id())), "{line}");
    assert!(rest.ends_with("job=\"j1\""), "{line}");
}

#[test]
fn a_full_disk_loses_lines_without_failing() {
    // /dev/full accepts the open and fails every write with ENOSPC.
    let file = RotatingFile::new("/dev/full", 10, 1);
    assert_eq!(file.append(b"x\n").unwrap_err().raw_os_error(), Some(libc::ENOSPC));
    tracing::subscriber::with_default(subscriber(file, LevelFilter::INFO), || {
        tracing::error!("nowhere to go");
    });
}

#[test]
fn the_log_is_recreated_only_while_its_anchor_exists() {
    let dir = tempfile::tempdir().unwrap();
    let anchor = dir.path().join("workspace.db");
    let file = RotatingFile::new(dir.path().join("agent.log"), 1 << 20, 1).anchored_to(&anchor);
    // The workspace was deleted: a late line is dropped, not written into a fresh file.
    assert_eq!(file.append(b"late\n").unwrap_err().kind(), std::io::ErrorKind::NotFound);
    assert!(!file.path().exists());
    std::fs::write(&anchor, b"").unwrap();
    file.append(b"first\n").unwrap();
    assert_eq!(std::fs::read_to_string(file.path()).unwrap(), "first\n");
}

#[test]
fn an_unknown_level_falls_back_to_info_and_is_reported() {
    assert_eq!(parse_level(None), (LevelFilter::INFO, None));
    assert_eq!(parse_level(Some("")), (LevelFilter::INFO, None));
    assert_eq!(parse_level(Some("DEBUG")), (LevelFilter::DEBUG, None));
    assert_eq!(parse_level(Some("off")), (LevelFilter::OFF, None));
    assert_eq!(parse_level(Some("loud")), (LevelFilter::INFO, Some("loud".into())));
}
