//! Runs the `portcullis` binary's offline subcommands (`explain`, `check`)
//! with a deadline.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::gateway::binary_path;

/// Time an offline subcommand gets before it is killed.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// Exit code and output of one run.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    /// Standard output as text.
    pub stdout: String,
    /// Standard error as text.
    pub stderr: String,
}

impl CliOutput {
    /// Parses standard output as JSON.
    ///
    /// # Errors
    /// Returns the parse error with both output streams.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(&self.stdout).with_context(|| {
            format!(
                "stdout is not JSON:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs the binary with `args` on a blocking thread, killing it after
/// [`RUN_TIMEOUT`].
///
/// # Errors
/// Returns spawn and wait errors, and the timeout.
pub async fn run<I, S>(args: I) -> anyhow::Result<CliOutput>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(binary_path());
    command
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || run_blocking(command))
        .await
        .context("CLI runner thread panicked")?
}

fn run_blocking(mut command: Command) -> anyhow::Result<CliOutput> {
    let mut child = command.spawn().context("spawn portcullis failed")?;
    // Output is read on threads so a full pipe cannot stall the child.
    let stdout = child.stdout.take().map(read_on_thread);
    let stderr = child.stderr.take().map(read_on_thread);
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().context("wait for portcullis failed")? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("portcullis did not exit within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(CliOutput {
        code: status.code(),
        stdout: join_output(stdout),
        stderr: join_output(stderr),
    })
}

fn read_on_thread(
    mut pipe: impl std::io::Read + Send + 'static,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = pipe.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    })
}

fn join_output(handle: Option<std::thread::JoinHandle<String>>) -> String {
    handle
        .and_then(|handle| handle.join().ok())
        .unwrap_or_default()
}
