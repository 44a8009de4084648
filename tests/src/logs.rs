//! Log lines of the gateway process: capture from its pipes, parse as
//! JSON and wait for a line with a deadline.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::Notify;

/// One log line of the gateway, from stdout or stderr.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// The line as written, without the trailing newline.
    pub raw: String,
    /// The line parsed as JSON, when it is a JSON object.
    pub json: Option<Value>,
}

/// Log lines seen so far, with a notification on each new line.
#[derive(Debug, Default)]
pub(crate) struct LogBuffer {
    lines: Mutex<Vec<LogLine>>,
    pub(crate) changed: Notify,
}

// === impl LogLine ===

impl LogLine {
    /// Returns `fields.message` of a JSON line.
    pub fn message(&self) -> Option<&str> {
        self.field("message")
    }

    /// Returns the string value of `fields.<name>` of a JSON line. Numbers and
    /// booleans are not returned; use [`LogLine::field_value`] for those.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.field_value(name)?.as_str()
    }

    /// Returns the value of `fields.<name>` of a JSON line.
    pub fn field_value(&self, name: &str) -> Option<&Value> {
        self.json.as_ref()?.get("fields")?.get(name)
    }

    /// Returns the `level` of a JSON line, such as `INFO`.
    pub fn level(&self) -> Option<&str> {
        self.json.as_ref()?.get("level")?.as_str()
    }

    fn parse(raw: String) -> Self {
        let json = serde_json::from_str::<Value>(&raw)
            .ok()
            .filter(Value::is_object);
        Self { raw, json }
    }
}

// === impl LogBuffer ===

impl LogBuffer {
    pub(crate) fn push(&self, line: LogLine) {
        self.lines
            .lock()
            .expect("log buffer lock poisoned")
            .push(line);
        self.changed.notify_waiters();
    }

    pub(crate) fn snapshot(&self) -> Vec<LogLine> {
        self.lines.lock().expect("log buffer lock poisoned").clone()
    }

    pub(crate) fn dump(&self) -> String {
        let lines = self.lines.lock().expect("log buffer lock poisoned");
        lines
            .iter()
            .map(|line| format!("  {}\n", line.raw))
            .collect()
    }

    pub(crate) fn find(
        &self,
        predicate: &dyn Fn(&LogLine) -> bool,
        skip: usize,
    ) -> Option<LogLine> {
        let lines = self.lines.lock().expect("log buffer lock poisoned");
        lines
            .iter()
            .skip(skip)
            .find(|line| predicate(line))
            .cloned()
    }

    /// Waits for a line after the first `skip` that satisfies `predicate`.
    pub(crate) async fn wait_for(
        &self,
        predicate: &dyn Fn(&LogLine) -> bool,
        skip: usize,
        deadline: Instant,
    ) -> Option<LogLine> {
        loop {
            // Registering before the check means a line pushed between the
            // check and the wait still wakes this task.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(line) = self.find(predicate, skip) {
                return Some(line);
            }
            let remaining = deadline.checked_duration_since(Instant::now())?;
            let _ = tokio::time::timeout(remaining, changed).await;
        }
    }
}

/// Reads lines from a child's pipe on a thread until the pipe closes.
pub(crate) fn capture(pipe: Option<impl Read + Send + 'static>, logs: &Arc<LogBuffer>) {
    let Some(pipe) = pipe else { return };
    let logs = Arc::clone(logs);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            logs.push(LogLine::parse(line));
        }
    });
}
