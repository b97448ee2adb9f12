//! The worker threads of the LLM forward pass.
//!
//! A decode step of a 1.5B model is about 140 parallel regions (five per layer plus the output
//! layer), each a few hundred microseconds long. Rayon puts idle workers to sleep, and waking
//! one costs tens of microseconds each time, twice per region when the caller is not a worker:
//! measured as ~6% of decode time in the scheduler alone. Like ggml's thread pool, the workers
//! here spin between regions and only park after a quiet spell (no region for [`SPIN`]), so a
//! step pays for the wake-up once, not per region.
//!
//! The caller takes part in every region, so `threads` = workers + 1. A region started from
//! inside another (a task that itself calls [`for_each`]) runs on the calling thread.

use std::cell::{Cell, UnsafeCell};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long a worker keeps spinning after its last region before it parks.
const SPIN: Duration = Duration::from_micros(100);

/// The work of one region, as every thread runs it (each claiming tasks until none are left).
type Job<'a> = dyn Fn() + Sync + 'a;

struct Shared {
    /// Bumped once per region; a worker runs the job when it sees a new value.
    epoch: AtomicU64,
    /// The current region's job: set before `epoch` is bumped and read only by workers that saw
    /// the bump; the caller waits for them all before it returns (and the job goes out of scope).
    job: UnsafeCell<Option<*const Job<'static>>>,
    /// Workers that have not finished the current region yet.
    running: AtomicUsize,
    /// Workers parked (or about to park) on `wake`.
    parked: AtomicUsize,
    panicked: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
    /// One region at a time (the pool is shared by every caller of the process).
    submit: Mutex<()>,
    workers: usize,
}

// SAFETY: `job` is written only by the thread holding `submit`, before the Release bump of
// `epoch`, and read by workers only after an Acquire load of `epoch` saw that bump; the writer
// does not touch it again until every worker has decremented `running` (Release/Acquire).
unsafe impl Sync for Shared {}

thread_local! {
    /// Whether this thread is running a region's job (nested regions run inline).
    static IN_REGION: Cell<bool> = const { Cell::new(false) };
}

fn shared() -> &'static Shared {
    static POOL: OnceLock<&'static Shared> = OnceLock::new();
    POOL.get_or_init(|| {
        // The same thread count as rayon's global pool (`--threads` sets it before any work).
        #[cfg(not(miri))]
        let workers = rayon::current_num_threads().saturating_sub(1);
        // Under Miri (scripts/miri.sh) the count rayon would take, without starting its pool:
        // its workers use crossbeam-epoch, which Stacked Borrows rejects (crossbeam-rs/crossbeam#545).
        #[cfg(miri)]
        let workers = std::env::var("RAYON_NUM_THREADS").ok().and_then(|n| n.parse::<usize>().ok()).unwrap_or(1).saturating_sub(1);
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            epoch: AtomicU64::new(0),
            job: UnsafeCell::new(None),
            running: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            submit: Mutex::new(()),
            workers,
        }));
        for i in 0..workers {
            thread::Builder::new()
                .name(format!("precis-worker-{i}"))
                .spawn(move || worker(shared))
                .expect("spawning an inference worker thread");
        }
        shared
    })
}

fn worker(shared: &'static Shared) {
    let mut seen = 0u64;
    loop {
        let mut idle_since = Instant::now();
        let mut spins = 0u32;
        loop {
            let epoch = shared.epoch.load(Ordering::Acquire);
            if epoch != seen {
                seen = epoch;
                break;
            }
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1024) && idle_since.elapsed() > SPIN {
                shared.parked.fetch_add(1, Ordering::SeqCst);
                let mut guard = shared.lock.lock().unwrap_or_else(|e| e.into_inner());
                while shared.epoch.load(Ordering::SeqCst) == seen {
                    guard = shared.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                drop(guard);
                shared.parked.fetch_sub(1, Ordering::SeqCst);
                idle_since = Instant::now();
            }
        }
        // SAFETY: see `Shared`; the caller keeps the job alive until `running` reaches zero.
        let job = unsafe { (*shared.job.get()).expect("a job is set before the epoch moves") };
        IN_REGION.with(|f| f.set(true));
        // SAFETY: `job` points to the caller's job, alive until this worker decrements
        // `running` below (the caller waits for that before it returns).
        if catch_unwind(AssertUnwindSafe(|| unsafe { (*job)() })).is_err() {
            shared.panicked.store(true, Ordering::Relaxed);
        }
        IN_REGION.with(|f| f.set(false));
        shared.running.fetch_sub(1, Ordering::Release);
    }
}

/// Runs `job` on every thread of the pool (the caller included) and returns when all are done.
fn run(job: &Job) {
    let shared = shared();
    if shared.workers == 0 || IN_REGION.with(Cell::get) {
        return job();
    }
    let _one = shared.submit.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: only the `submit` holder writes `job`, and no worker reads it before the bump
    // below; the lifetime is erased because this function waits for every worker to finish.
    unsafe {
        let ptr: *const Job<'_> = job;
        *shared.job.get() = Some(std::mem::transmute::<*const Job<'_>, *const Job<'static>>(ptr));
    }
    shared.running.store(shared.workers, Ordering::Relaxed);
    shared.epoch.fetch_add(1, Ordering::SeqCst);
    if shared.parked.load(Ordering::SeqCst) > 0 {
        let _guard = shared.lock.lock().unwrap_or_else(|e| e.into_inner());
        shared.wake.notify_all();
    }
    IN_REGION.with(|f| f.set(true));
    let mine = catch_unwind(AssertUnwindSafe(job));
    IN_REGION.with(|f| f.set(false));
    while shared.running.load(Ordering::Acquire) != 0 {
        std::hint::spin_loop();
    }
    // SAFETY: every worker has finished with the job (`running` is zero, Acquire), and none
    // reads it again before the next bump of `epoch`, by the `submit` holder.
    unsafe { *shared.job.get() = None };
    if let Err(payload) = mine {
        resume_unwind(payload);
    }
    if shared.panicked.swap(false, Ordering::Relaxed) {
        panic!("an inference worker thread panicked");
    }
}

/// An output buffer shared by the tasks of a region, each writing its own disjoint part of it
/// (the callers say which, where they write).
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(pub(crate) *mut f32);
// SAFETY: the tasks that share it write disjoint elements, and the buffer outlives the region
// (both are the callers' to uphold, at each write).
unsafe impl Send for SharedOut {}
// SAFETY: as for `Send`.
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// (A method, so that closures capture the `Sync` wrapper, not the raw pointer in it.)
    pub(crate) fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// Threads that run a region: the workers and the caller.
pub fn threads() -> usize {
    shared().workers + 1
}

/// Calls `f` once for each of `tasks`, spread over the pool's threads (each thread claims the
/// next task as it finishes one, so uneven tasks balance).
pub fn for_each<T: Send>(tasks: Vec<T>, f: impl Fn(T) + Sync) {
    if tasks.len() <= 1 {
        tasks.into_iter().for_each(f);
        return;
    }
    let slots: Vec<Mutex<Option<T>>> = tasks.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let next = AtomicUsize::new(0);
    run(&|| loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = slots.get(i) else { break };
        let task = slot.lock().unwrap_or_else(|e| e.into_inner()).take().expect("each task is claimed once");
        f(task);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_and_nested_regions_run_inline() {
        for round in 0..200 {
            let hits: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
            for_each((0..37).collect(), |i: usize| {
                hits[i].fetch_add(1, Ordering::Relaxed);
                if i.is_multiple_of(10) {
                    let inner = AtomicUsize::new(0);
                    for_each(vec![1, 2, 3], |x: usize| {
                        inner.fetch_add(x, Ordering::Relaxed);
                    });
                    assert_eq!(inner.load(Ordering::Relaxed), 6);
                }
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "round {round}");
            if round == 100 {
                // Long enough for the workers to park: they must wake for the next region.
                thread::sleep(SPIN * 3);
            }
        }
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_pool_goes_on() {
        let result = catch_unwind(|| for_each((0..8).collect(), |i: usize| assert!(i != 5, "task five fails")));
        assert!(result.is_err());
        let sum = AtomicUsize::new(0);
        for_each((0..8).collect(), |i: usize| {
            sum.fetch_add(i, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 28);
    }
}
