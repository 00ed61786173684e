//! CPU time of this process (or of one job's threads), for the cost a model card reports next to ε.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

/// The threads of one job: a thread pool that trains one model while other pools of the same
/// process train others. Training inside the pool reports the CPU time of these threads only,
/// not of the whole process.
#[derive(Clone, Debug, Default)]
pub struct ThreadGroup(Arc<Mutex<Vec<u64>>>);

thread_local! {
    static GROUP: RefCell<Option<ThreadGroup>> = const { RefCell::new(None) };
}

impl ThreadGroup {
    /// Adds the calling thread to the group (call from the pool's start handler).
    pub fn join_current(&self) {
        if let Some(tid) = current_tid() {
            self.0.lock().expect("thread group lock").push(tid);
        }
        GROUP.with(|g| *g.borrow_mut() = Some(self.clone()));
    }

    /// User + system CPU seconds of the group's threads (Linux), None elsewhere.
    fn seconds(&self) -> Option<f64> {
        let tids = self.0.lock().expect("thread group lock").clone();
        tids.iter().map(|tid| stat_seconds(&format!("/proc/self/task/{tid}/stat"))).sum()
    }
}

/// CPU seconds of the calling thread's [`ThreadGroup`] when it belongs to one, else of the process.
pub fn cpu_seconds() -> Option<f64> {
    match GROUP.with(|g| g.borrow().clone()) {
        Some(group) => group.seconds(),
        None => process_cpu_seconds(),
    }
}

/// The kernel's id of the calling thread, from `/proc/thread-self` (a link to `<pid>/task/<tid>`).
fn current_tid() -> Option<u64> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// User + system CPU seconds this process has used so far (all threads), from
/// `/proc/self/stat` (fields 14 and 15, in USER_HZ = 100 ticks per second, the Linux ABI);
/// None where that file does not exist.
pub fn process_cpu_seconds() -> Option<f64> {
    stat_seconds("/proc/self/stat")
}

/// utime + stime of a `stat` file of procfs (a process's or one thread's), in seconds.
fn stat_seconds(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so fields 14 and 15 are at indices 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_time_grows_with_work() {
        let Some(before) = super::process_cpu_seconds() else { return };
        // Busy work until the counter moves by 0.2 s; on a loaded machine that takes longer than
        // 0.2 s of wall time, so only a counter that never moves runs into the 60 s cap.
        let (mut x, mut now) = (0u64, before);
        let start = std::time::Instant::now();
        while now - before < 0.2 && start.elapsed().as_secs() < 60 {
            for _ in 0..1_000_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            std::hint::black_box(x);
            now = super::process_cpu_seconds().unwrap();
        }
        assert!(now - before >= 0.2, "{before} → {now} after {:.1} s of busy work", start.elapsed().as_secs_f64());
    }

    #[test]
    fn a_thread_group_counts_its_threads_only() {
        if super::process_cpu_seconds().is_none() {
            return;
        }
        // Burns CPU time of the calling thread (not wall time: on a loaded machine the two differ).
        let busy = |ms: u128| {
            let own = || super::stat_seconds("/proc/thread-self/stat").unwrap();
            let (mut x, start) = (0u64, own());
            while ((own() - start) * 1000.0) < ms as f64 {
                for _ in 0..10_000 {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
            }
            std::hint::black_box(x);
        };
        let group = super::ThreadGroup::default();
        let g = group.clone();
        // a thread outside the group burns 0.6 s; the group's thread 0.2 s
        let outsider = std::thread::spawn(move || busy(600));
        let inside = std::thread::spawn(move || {
            g.join_current();
            busy(200);
            super::cpu_seconds().unwrap()
        });
        let own = inside.join().unwrap();
        outsider.join().unwrap();
        assert!((0.1..0.45).contains(&own), "group CPU {own} s after 0.2 s of its own work (0.6 s elsewhere)");
    }
}
