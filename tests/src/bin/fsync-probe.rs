//! A tiny driver for the durability test: opens a store and appends one event per `append`
//! line on stdin, answering `ack <position>` or `err <code>`. The test runs it under libfiu's
//! `fiu-run` and makes fsync fail in the middle.

use std::io::{BufRead, Write};

use eventstore::{EventStore, ExpectedVersion, NewEvent, StoreOptions, StreamId};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .ok_or("usage: fsync-probe DATABASE_URL")?;
    let store = EventStore::open(&url, StoreOptions::default()).await?;
    let stream = StreamId::parse("probe-1")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let mut n = 0u64;
    for line in std::io::stdin().lock().lines() {
        match line?.trim() {
            "append" => {
                n += 1;
                let event = NewEvent::new("Probed", serde_json::json!({ "n": n }));
                match store
                    .append(&stream, ExpectedVersion::Any, vec![event])
                    .await
                {
                    Ok(result) => writeln!(out, "ack {}", result.positions[0])?,
                    Err(error) => writeln!(out, "err {}", error.code())?,
                }
            }
            "quit" => {
                writeln!(out, "bye")?;
                break;
            }
            other => writeln!(out, "err UNKNOWN_COMMAND {other}")?,
        }
        out.flush()?;
    }
    Ok(())
}
