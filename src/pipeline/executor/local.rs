//! The local executor: independent models trained at once on this machine. Each job owns a rayon
//! pool of `threads` threads and trains inside it (`ThreadPool::install`), so the gemm and kernel
//! splits of one model never take another job's cores, and `jobs × threads` stays within the
//! cores given. A model's seeds depend on its name only (see `steps::train_model`), never on
//! which job trains it or when, so the models are bit-identical to sequential training.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::Context;

use super::super::steps::{TrainStep, TrainingData};
use super::super::{Pipeline, StepOutcome};
use crate::config::ExecutorSection;

/// How many models train at once, and with how many threads each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Concurrency {
    /// Models trained at once.
    pub jobs: usize,
    /// Threads per model.
    pub threads: usize,
}

impl Concurrency {
    /// Fills in what the config leaves open from `cores` (the threads this process may use:
    /// rayon's global pool, which honours `RAYON_NUM_THREADS`): threads = cores ÷ jobs, or
    /// cores ÷ models when neither is set; jobs = cores ÷ threads; never more jobs than models.
    pub fn resolve(x: &ExecutorSection, models: usize, cores: usize) -> Concurrency {
        let cores = cores.max(1);
        let models = models.max(1);
        let threads = match (x.threads_per_model, x.jobs) {
            (Some(t), _) => t,
            (None, Some(j)) => (cores / j.min(models)).max(1),
            (None, None) => (cores / models).max(1),
        };
        let jobs = x.jobs.unwrap_or(cores / threads).clamp(1, models);
        Concurrency { jobs, threads }
    }
}

/// Trains `models` in order with one job, or `plan.jobs` at a time; outcomes in `models` order.
/// After a failure no new model starts, and the first failure (in model order) is returned.
pub fn train(p: &Pipeline, data: &TrainingData, models: &[String], upstream: &str, plan: &Concurrency) -> anyhow::Result<Vec<StepOutcome>> {
    let steps: Vec<TrainStep> = models.iter().map(|m| TrainStep::new(p, m, upstream)).collect();
    pin_candle_element_threads();
    if plan.jobs <= 1 && plan.threads >= rayon::current_num_threads() {
        // One model at a time on the process's own pool: the path of a run without an executor.
        return models.iter().zip(&steps).map(|(m, s)| s.run(p, m, data)).collect();
    }
    p.say(&format!("  training {} models, {} at a time, {} thread(s) each", models.len(), plan.jobs, plan.threads));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<anyhow::Result<StepOutcome>>>> = Mutex::new((0..models.len()).map(|_| None).collect());
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut workers = Vec::new();
        for job in 0..plan.jobs {
            let group = vg_training::ThreadGroup::default();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(plan.threads)
                .thread_name(move |i| format!("vg-job{job}-{i}"))
                .start_handler(move |_| group.join_current())
                .build()
                .context("cannot start a training thread pool")?;
            let (next, stop, results, steps) = (&next, &stop, &results, &steps);
            workers.push(scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= models.len() || stop.load(Ordering::SeqCst) {
                    break;
                }
                let r = pool.install(|| steps[i].run(p, &models[i], data));
                if r.is_err() {
                    stop.store(true, Ordering::SeqCst);
                }
                results.lock().expect("results lock")[i] = Some(r);
            }));
        }
        for w in workers {
            if let Err(panic) = w.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Ok(())
    })?;
    let mut out = Vec::with_capacity(models.len());
    for (name, r) in models.iter().zip(results.into_inner().expect("results lock")) {
        match r {
            Some(r) => out.push(r?),
            None => anyhow::bail!("training of {name} did not start: another model failed first"),
        }
    }
    Ok(out)
}

/// Candle runs element-wise tensor ops on one process-wide barrier pool whose calls take turns and
/// whose workers spin after each op; in training each op runs inline on the calling thread instead
/// (`CANDLE_NUM_THREADS=1`), while our kernels and matrix products split over the job's rayon
/// pool. Training's large element-wise work is in our own kernels; candle's remaining small ops
/// (the DP step's norm table) ran ~10 % of a 2-thread DP step slower with the pool spinning beside
/// the kernels (issue 18). It takes effect when candle has not started that pool yet, as in `run`,
/// `train` and `task train`, where training is the first tensor work; a value the user set is kept.
pub fn pin_candle_element_threads() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // Set before the job threads start; no other thread reads the environment at this point.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}
