//! Running the real `aduana` binary in tests: on a test database with a data directory of its
//! own, `serve` on a free port (read from its log), killed with SIGKILL.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aduana_tests::TestDb;
use serde_json::Value;

/// How long a server may take to listen and be ready.
const STEP_LIMIT: Duration = Duration::from_secs(45);

/// The database and a data directory (for the signing key), and how to run `aduana` on them.
pub struct Site {
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn new(db: &TestDb) -> Self {
        Self {
            url: db.url.clone(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `aduana ARGS --database URL --data-dir DIR`, whatever the environment says.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_aduana"));
        command
            .args(args)
            .arg("--database")
            .arg(&self.url)
            .arg("--data-dir")
            .arg(self.dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("ADUANA_DATA_DIR")
            .env_remove("ADUANA_SIGNING_KEY")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs a short command; returns its stdout.
    pub async fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().await.unwrap();
        assert!(
            output.status.success(),
            "aduana {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Starts `aduana serve` on a free port and waits until it is ready.
    pub async fn serve(&self, name: &str) -> Server {
        let log = self.dir.path().join(format!("serve-{name}.log"));
        let child = self
            .command(&["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let deadline = Instant::now() + STEP_LIMIT;
        server.addr = loop {
            if let Some(addr) = listening_addr(&server.log) {
                break addr;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("aduana serve exited ({status}):\n{}", server.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "not listening:\n{}",
                server.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let ready = format!("http://{}/ready", server.addr);
        let http = http_client();
        while !http
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(
                Instant::now() < deadline,
                "not ready:\n{}",
                server.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }
}

/// A running `aduana serve`; dropping it kills the process.
pub struct Server {
    pub child: tokio::process::Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl Server {
    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// The address in the server's `listening` log line.
pub fn listening_addr(log: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().find_map(|line| {
        let entry: Value = serde_json::from_str(line).ok()?;
        let fields = &entry["fields"];
        (fields["message"] == "listening").then(|| fields["addr"].as_str()?.parse().ok())?
    })
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}
