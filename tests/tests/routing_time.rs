//! Time-window matching through the real binary. Windows are computed at
//! test time around the current time in `Asia/Tokyo`, which has had a
//! fixed offset of UTC+9 with no daylight saving time since 1951.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_e2e::client::get;
use portcullis_e2e::{Backend, ConfigDir, Gateway};

const TOKYO_OFFSET_SECONDS: u64 = 9 * 3600;
const DAY_SECONDS: u64 = 86_400;
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Local time in Tokyo as seconds since the Unix epoch.
fn tokyo_now() -> u64 {
    let utc = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock is after 1970")
        .as_secs();
    utc + TOKYO_OFFSET_SECONDS
}

/// Formats the minute of day of `seconds`, shifted by `minutes`, as `HH:MM`.
fn clock(seconds: u64, minutes: i64) -> String {
    let minute_of_day = (seconds % DAY_SECONDS / 60) as i64;
    let shifted = (minute_of_day + minutes).rem_euclid(24 * 60);
    format!("{:02}:{:02}", shifted / 60, shifted % 60)
}

/// Weekday index of `seconds`, Monday = 0. The epoch fell on a Thursday.
fn weekday(seconds: u64) -> usize {
    ((seconds / DAY_SECONDS + 3) % 7) as usize
}

/// Waits until Tokyo is more than two minutes away from midnight, so the
/// day-based windows cannot flip while a test runs.
async fn wait_away_from_midnight() {
    let into_day = tokyo_now() % DAY_SECONDS;
    let to_midnight = DAY_SECONDS - into_day;
    if to_midnight < 120 {
        tokio::time::sleep(Duration::from_secs(to_midnight + 120)).await;
    } else if into_day < 120 {
        tokio::time::sleep(Duration::from_secs(120 - into_day)).await;
    }
}

/// Renders one rule for `path` with a time window; `days` is empty or a
/// YAML list such as `[Mon, Tue]`.
fn window_rule(endpoint: &str, path: &str, window: (&str, &str), zone: &str, days: &str) -> String {
    let (start, end) = window;
    let days = match days {
        "" => String::new(),
        list => format!(", days: {list}"),
    };
    format!(
        "    - matches:\n        - path: {{type: Exact, value: {path}}}\n          \
         timeWindow: {{start: \"{start}\", end: \"{end}\", timeZone: {zone}{days}}}\n      \
         backends: [{{endpoint: \"{endpoint}\"}}]\n"
    )
}

fn routes(endpoint: &str) -> String {
    let now = tokyo_now();
    let around_now = (clock(now, -60), clock(now, 60));
    let later = (clock(now, 120), clock(now, 180));
    let today = WEEKDAYS[weekday(now)];
    let other_days: Vec<&str> = WEEKDAYS
        .iter()
        .copied()
        .filter(|day| *day != today)
        .collect();
    let whole_day = ("00:00", "24:00");

    let mut yaml = String::from(
        "apiVersion: portcullis.io/v1alpha1\nkind: Route\n\
         metadata: {name: hours, namespace: default}\n\
         spec:\n  hostnames: [time.example.com]\n  rules:\n",
    );
    let open = (around_now.0.as_str(), around_now.1.as_str());
    yaml += &window_rule(endpoint, "/open", open, "Asia/Tokyo", "");
    yaml += &window_rule(endpoint, "/closed", (&later.0, &later.1), "Asia/Tokyo", "");
    yaml += &window_rule(endpoint, "/utc", open, "UTC", "");
    yaml += &window_rule(
        endpoint,
        "/today",
        whole_day,
        "Asia/Tokyo",
        &format!("[{today}]"),
    );
    let others = format!("[{}]", other_days.join(", "));
    yaml += &window_rule(endpoint, "/other-days", whole_day, "Asia/Tokyo", &others);
    yaml += &overnight_rules(endpoint, now);
    yaml
}

/// Renders two rules with a window of 23 hours 59 minutes that ends after
/// its start time on the next day and contains `now`. `/overnight-start`
/// lists only the day on which the occurrence containing `now` started, and
/// `/overnight-other` lists every other day.
fn overnight_rules(endpoint: &str, now: u64) -> String {
    let (start, end) = (clock(now, 61), clock(now, 60));
    let minute_of_day = now % DAY_SECONDS / 60;
    let start_minute = (minute_of_day + 61) % (24 * 60);
    let started_today = minute_of_day >= start_minute;
    let start_day = match started_today {
        true => weekday(now),
        false => weekday(now - DAY_SECONDS),
    };
    let start_day = WEEKDAYS[start_day];
    let other_days: Vec<&str> = WEEKDAYS
        .iter()
        .copied()
        .filter(|day| *day != start_day)
        .collect();

    let window = (start.as_str(), end.as_str());
    let on_start_day = format!("[{start_day}]");
    let on_other_days = format!("[{}]", other_days.join(", "));
    let mut yaml = window_rule(
        endpoint,
        "/overnight-start",
        window,
        "Asia/Tokyo",
        &on_start_day,
    );
    yaml += &window_rule(
        endpoint,
        "/overnight-other",
        window,
        "Asia/Tokyo",
        &on_other_days,
    );
    yaml
}

struct Fixture {
    gateway: Gateway,
    _dir: ConfigDir,
    backend: Backend,
}

impl Fixture {
    async fn start() -> Self {
        wait_away_from_midnight().await;
        let backend = Backend::echo("in-window").await;
        let dir = ConfigDir::new();
        dir.write("routes.yaml", routes(&backend.endpoint()));
        let gateway = Gateway::builder().config_dir(dir.path()).start().await;
        Self {
            gateway,
            _dir: dir,
            backend,
        }
    }

    async fn route_of(&self, path: &str) -> String {
        let response = get(self.gateway.http_addr(), "time.example.com", path).await;
        match response.backend() {
            Some(name) => name.to_owned(),
            None => response
                .error_code()
                .unwrap_or_else(|| format!("status {}", response.status)),
        }
    }
}

#[test]
fn clock_helpers_wrap_around_midnight() {
    assert_eq!(clock(23 * 3600 + 30 * 60, 60), "00:30");
    assert_eq!(clock(30 * 60, -60), "23:30");
    assert_eq!(WEEKDAYS[weekday(0)], "Thu");
    assert_eq!(WEEKDAYS[weekday(4 * DAY_SECONDS)], "Mon");
}

#[tokio::test]
async fn window_around_now_matches() {
    let fixture = Fixture::start().await;

    assert_eq!(fixture.route_of("/open").await, "in-window");
}

#[tokio::test]
async fn window_later_today_does_not_match() {
    let fixture = Fixture::start().await;

    assert_eq!(fixture.route_of("/closed").await, "route_not_found");
    assert_eq!(fixture.backend.hits(), 0);
}

#[tokio::test]
async fn window_uses_its_time_zone() {
    let fixture = Fixture::start().await;

    // The same wall-clock hours in UTC lie nine hours away from now.
    assert_eq!(fixture.route_of("/utc").await, "route_not_found");
}

#[tokio::test]
async fn window_on_today_matches() {
    let fixture = Fixture::start().await;

    assert_eq!(fixture.route_of("/today").await, "in-window");
}

#[tokio::test]
async fn window_on_other_days_does_not_match() {
    let fixture = Fixture::start().await;

    assert_eq!(fixture.route_of("/other-days").await, "route_not_found");
}

#[tokio::test]
async fn overnight_window_belongs_to_start_day() {
    let fixture = Fixture::start().await;

    assert_eq!(fixture.route_of("/overnight-start").await, "in-window");
}

#[tokio::test]
async fn overnight_window_not_on_other_days() {
    let fixture = Fixture::start().await;

    assert_eq!(
        fixture.route_of("/overnight-other").await,
        "route_not_found"
    );
}
