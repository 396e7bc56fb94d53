//! Watches the sale while it runs: samples the organizer's stats (the queue length over
//! time comes from `waiting`), and draws the progress bar with the live numbers.
//!
//! Goose has no place for a sampler that is not a user (a user would count in its
//! metrics and its user total), nor a progress bar, so this is a plain task beside it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::sync::watch;

use crate::api::{Organizer, Stats};
use crate::run::Run;

/// One sample of the event's stats.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Seconds since the start of the run.
    pub t: f64,
    #[serde(flatten)]
    pub stats: Stats,
}

/// Samples every `every` until `stop` turns true; returns the samples.
pub async fn watch(
    run: Arc<Run>,
    organizer: Organizer,
    every: Duration,
    show_progress: bool,
    mut stop: watch::Receiver<bool>,
) -> Vec<Sample> {
    let bar = ProgressBar::new(run.crowd.fans as u64);
    if show_progress {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} fans done  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut samples = Vec::new();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        let t = run.now();
        let mut last_error: Option<String> = None;
        let (waiting, sold) = match organizer.stats(&run.event_id).await {
            Ok(stats) => {
                let shown = (stats.waiting, stats.sold);
                samples.push(Sample { t, stats });
                shown
            }
            Err(e) => {
                last_error = Some(format!("{e:#}"));
                samples
                    .last()
                    .map_or((0, 0), |s| (s.stats.waiting, s.stats.sold))
            }
        };
        let live = &run.live;
        let second = (t as usize).saturating_sub(1);
        bar.set_position(live.fans_done.load(Ordering::Relaxed));
        bar.set_message(format!(
            "joined {} · admitted {} · bought {} · waiting {} · sold {} · {} req/s{}",
            live.joined.load(Ordering::Relaxed),
            live.admitted.load(Ordering::Relaxed),
            live.bought.load(Ordering::Relaxed),
            waiting,
            sold,
            run.rec.requests_in_second(second),
            last_error
                .as_deref()
                .map(|e| format!(" · stats: {e}"))
                .unwrap_or_default(),
        ));
    }
    bar.finish_and_clear();
    samples
}
