//! Acknowledged means durable: when fsync fails, the commit is reported as failed and the store
//! handle acknowledges nothing afterwards, even once fsync works again (as PostgreSQL does since
//! "fsyncgate"). The failure is injected with libfiu (`fiu-run`, Debian package fiu-utils).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use eventstore::{EventStore, Filter, StoreOptions};
use futures::TryStreamExt;

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn a_failed_fsync_poisons_the_store_and_nothing_after_it_is_acknowledged() {
    if !have("fiu-run") || !have("fiu-ctrl") {
        assert!(
            std::env::var("ADUANA_REQUIRE_FIU").is_err(),
            "ADUANA_REQUIRE_FIU is set but fiu-run/fiu-ctrl are missing (apt-get install fiu-utils)"
        );
        eprintln!("fsync failure test skipped: fiu-run not installed (apt-get install fiu-utils)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/events.db", dir.path().display());
    let mut child = Command::new("fiu-run")
        .args(["-x", env!("CARGO_BIN_EXE_fsync-probe"), &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(output.next().unwrap().unwrap(), "ready");
    let mut ask = |command: &str| -> String {
        writeln!(input, "{command}").unwrap();
        input.flush().unwrap();
        match output.next() {
            Some(line) => line.unwrap(),
            None => panic!("the probe exited after {command:?}"),
        }
    };
    let fiu = |command: &str| {
        for point in ["posix/io/sync/fsync", "posix/io/sync/fdatasync"] {
            let status = Command::new("fiu-ctrl")
                .args(["-c", &format!("{command} name={point}"), &pid])
                .status()
                .unwrap();
            assert!(status.success(), "fiu-ctrl {command} {point}");
        }
    };

    let mut acknowledged = Vec::new();
    for _ in 0..5 {
        let answer = ask("append");
        let position: u64 = answer.strip_prefix("ack ").expect(&answer).parse().unwrap();
        acknowledged.push(position);
    }
    fiu("enable");
    assert_eq!(ask("append"), "err COMMIT_FAILED");
    fiu("disable");
    for _ in 0..3 {
        assert_eq!(
            ask("append"),
            "err STORE_POISONED",
            "nothing is acknowledged after a failed fsync"
        );
    }
    assert_eq!(ask("quit"), "bye");
    assert!(child.wait().unwrap().success());

    // Reopened without the fault: every acknowledged event is there and the chain holds.
    let store = EventStore::open(&url, StoreOptions::default())
        .await
        .unwrap();
    let stored: Vec<u64> = store
        .read_all(0, Filter::all(), usize::MAX)
        .map_ok(|e| e.position)
        .try_collect()
        .await
        .unwrap();
    assert!(
        acknowledged.iter().all(|p| stored.contains(p)),
        "{acknowledged:?} ⊆ {stored:?}"
    );
    assert!(
        stored.len() <= 6,
        "at most the failed append's event beyond the acknowledged"
    );
    assert_eq!(store.verify_all().await.unwrap().broken, None);
}
