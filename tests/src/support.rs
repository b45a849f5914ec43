//! Small helpers the host tests share: stopping the transport, waiting for a report, pacing a
//! render, listing what a report flags.

use std::time::{Duration, Instant};

use stemcheck_analysis::Severity;

use crate::host::{AudioSide, LiveReport, Transport, reports_for_group};

/// A shared-memory namespace tag (`STEMCHECK_SHM_TAG`) of its own for one host process a test
/// starts: hosts started side by side (the Ardour sessions run in parallel) would otherwise
/// meet in one federation and mix their groups, as two hosts of one user on one machine do.
pub fn isolated_shm_tag(label: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Under the suite's own tag when there is one (`cargo xtask test` removes its segments).
    let parent = std::env::var("STEMCHECK_SHM_TAG")
        .map(|t| format!("{t}_"))
        .unwrap_or_default();
    format!("{parent}{label}_{}_{n}", std::process::id())
}

/// Waits (up to a minute) for the report of run `count` (counting from 1 in this process) of
/// `group` ("A" ...).
pub fn wait_for_report(group: &str, count: usize) -> LiveReport {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reports = reports_for_group(group);
        if reports.len() >= count {
            return reports[count - 1].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no report {count} for group {group} (have {}: {:?})",
            reports.len(),
            reports.iter().map(|r| &r.run).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sleeps so that `frames_done` frames since `started` run at `speed` times real time.
pub fn pace(started: Instant, frames_done: usize, rate_hz: f64, speed: f64) {
    let due = Duration::from_secs_f64(frames_done as f64 / rate_hz / speed);
    if let Some(wait) = due.checked_sub(started.elapsed()) {
        std::thread::sleep(wait);
    }
}

/// A report's warnings and errors, readable.
pub fn flagged(report: &LiveReport) -> Vec<String> {
    report
        .report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| format!("{} {:?}: {}", f.kind.name(), f.stems, f.message))
        .collect()
}

/// One block of `frames` of silence on every instance with the transport stopped at `at`, as a
/// host sends when the user stops: it ends the run.
pub fn stop(sides: &mut [AudioSide<'_>], at: i64, frames: usize) {
    let silence = vec![0.0f32; frames];
    for side in sides.iter_mut() {
        let input: Vec<&[f32]> = vec![&silence; side.num_channels()];
        side.process(&input, Transport::Stopped(at));
    }
}
