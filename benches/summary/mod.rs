//! Side-by-side ratios for the criterion benchmarks.
//!
//! Criterion reports each benchmark on its own. [`Summary::time`] measures a
//! routine through `Bencher::iter_custom`, so criterion still decides how
//! many iterations each sample runs, and keeps every sample's time per
//! iteration; [`Summary::print`] then prints the median of each benchmark
//! and its ratio to a baseline.

use criterion::Bencher;
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// Samples (nanoseconds per iteration) by benchmark name, in first-run order.
#[derive(Default)]
pub struct Summary {
    samples: RefCell<Vec<(String, f64, Vec<f64>)>>,
}

impl Summary {
    /// Measures `routine` under `name`; `per_iteration` is how many units
    /// (ops, loop iterations) one call handles, for the per-unit column.
    pub fn time<O>(
        &self,
        b: &mut Bencher<'_>,
        name: &str,
        per_iteration: f64,
        mut routine: impl FnMut() -> O,
    ) {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                std::hint::black_box(routine());
            }
            let elapsed = start.elapsed();
            self.record(name, per_iteration, elapsed, iters);
            elapsed
        });
    }

    fn record(&self, name: &str, per_iteration: f64, elapsed: Duration, iters: u64) {
        let ns = elapsed.as_nanos() as f64 / iters.max(1) as f64;
        let mut samples = self.samples.borrow_mut();
        match samples.iter_mut().find(|(n, ..)| n == name) {
            Some((_, _, v)) => v.push(ns),
            None => samples.push((name.to_owned(), per_iteration, vec![ns])),
        }
    }

    /// The median time per iteration of `name`, in nanoseconds.
    pub fn median(&self, name: &str) -> Option<f64> {
        let samples = self.samples.borrow();
        let (_, _, v) = samples.iter().find(|(n, ..)| n == name)?;
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }

    /// Prints one line per benchmark whose name starts with `prefix`: its
    /// median, the time per unit, and the ratio to `baseline`.
    pub fn print(&self, title: &str, prefix: &str, unit: &str, baseline: &str) {
        let base = self.median(baseline);
        println!("\n{title} (medians over criterion's samples; ratio to {baseline})");
        for (name, per, _) in self.samples.borrow().iter() {
            if !name.starts_with(prefix) {
                continue;
            }
            let Some(median) = self.median(name) else {
                continue;
            };
            let ratio = base.map_or(String::from("-"), |b| format!("{:.2}x", median / b));
            println!(
                "  {name:<40} {:>14.1} ns {:>10.3} ns/{unit} {ratio:>9}",
                median,
                median / per
            );
        }
    }
}
