//! Erased secrets are scrubbed from the database files: at once for a lone job, once per
//! interval for a burst, and on a deadline of its own when nothing else happens.

use super::*;

fn with_secret(value: &str) -> String {
    format!(
        r#"{{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {{"commandLine": "true"}},
            "secrets": [{{"name": "TOKEN", "value": "{value}"}}]}}"#
    )
}

/// The database files whose raw bytes hold `value`.
fn holding(h: &Harness, value: &str) -> Vec<String> {
    let db = h.client.layout().db();
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| format!("{}{suffix}", db.display()))
        .filter(|path| std::fs::read(path).is_ok_and(|b| b.windows(value.len()).any(|w| w == value.as_bytes())))
        .collect()
}

#[test]
fn a_lone_job_is_scrubbed_at_once_and_a_burst_once_per_interval() {
    let mut h = Harness::new();
    h.manual_cluster("c", 3, DeallocationOption::Requeue);
    let values = ["zq-core-first-secret", "zq-core-second-secret", "zq-core-third-secret"];
    let uids: Vec<String> =
        values.iter().enumerate().map(|(i, v)| h.submit(&format!("j{i}"), &with_secret(v))).collect();
    let key = |i: usize| format!("task:{}:1:0", uids[i]);
    assert_eq!(starts(&h.effects()).len(), 3);
    for value in values {
        assert!(!holding(&h, value).is_empty(), "{value} is stored while its job runs");
    }

    h.exit(&key(0), 0);
    assert_eq!(holding(&h, values[0]), Vec::<String>::new(), "the first end is scrubbed in its turn");
    let soon = |h: &Harness| h.core.next_deadline().filter(|at| *at < h.now().instant + Duration::from_secs(60));
    assert_eq!(soon(&h), None, "only the running jobs' wall clocks are ahead");

    h.elapsed += Duration::from_millis(100);
    h.exit(&key(1), 0);
    assert_eq!(h.state("j1"), ExecutionState::Succeeded);
    assert!(!holding(&h, values[1]).is_empty(), "a second end within the interval waits");
    let due = h.core.next_deadline().expect("the scrub is a deadline");
    assert_eq!(due, h.now().instant + Duration::from_millis(900));

    h.elapsed += Duration::from_millis(400);
    h.exit(&key(2), 0);
    assert!(!holding(&h, values[2]).is_empty());
    assert_eq!(h.core.next_deadline(), Some(due), "ends within the interval share its scrub");

    // The shell wakes the core at the deadline; nothing else happens.
    h.after(0.5);
    for value in values {
        assert_eq!(holding(&h, value), Vec::<String>::new(), "{value}");
    }
    assert_eq!(h.core.next_deadline(), None);
}
