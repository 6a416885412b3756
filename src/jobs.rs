//! Background work with progress, cancellation and a typed result (3D Slicer's rule for
//! compute modules: off the UI thread, report progress, be abortable, never touch the views
//! mid-run). The work gets owned inputs; its result comes back over a channel, and a waker
//! (the window's repaint request) is called once it is ready, so nobody polls a timer.

pub use crate::dicom::Progress;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::Instant;

/// Called from the worker when the result is ready.
pub type Waker = Box<dyn Fn() + Send>;

/// The pool every job's parallel loops run on, apart from rayon's global pool. The UI
/// thread's own short parallel loops (a mask's voxel count in a panel, a stroke's hash)
/// go to the global pool; if jobs used it too, those loops would queue behind a job's
/// long tasks and a frame could wait for seconds. Its threads run at a lower priority, so
/// that a job uses every core the window (and a software rasteriser drawing it) leaves
/// idle but does not take them from it. `None`: no pool could be made (the global pool
/// then runs the job).
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("hounsfield-jobs-{i}"))
            .start_handler(|_| yield_to_the_window())
            .build()
            .ok()
    })
    .as_ref()
}

/// How much nicer than the process a job's threads are (Linux: 10 steps of 1.25× CPU
/// share each, so a busy UI thread gets about 90 % of a core it shares with one).
pub const JOB_NICENESS: i32 = 10;

/// Lowers the calling thread's priority by [`JOB_NICENESS`] (Linux gives each thread its
/// own nice value); elsewhere, and when the system refuses, nothing changes.
fn yield_to_the_window() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: gettid/getpriority/setpriority only read and set the calling thread's
    // scheduling priority; errors leave it as it was.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, (now + JOB_NICENESS).min(19));
    }
}

/// A running job producing a `T`.
pub struct Job<T> {
    /// What it does, for the status bar.
    pub label: String,
    /// Progress (`done` of `total`) and the cancel flag.
    pub progress: Arc<Progress>,
    /// Units of work (slices, stages); 0 when unknown.
    pub total: usize,
    /// When it started.
    pub started: Instant,
    rx: Receiver<T>,
}

/// What polling found.
#[derive(Debug)]
pub enum Poll<T> {
    /// Still working.
    Running,
    /// Done.
    Done(T),
    /// The worker stopped without a result (it panicked or could not start).
    Lost,
}

impl<T: Send + 'static> Job<T> {
    /// Starts `work` on its own thread; its parallel loops run on the jobs' pool.
    pub fn spawn(
        label: impl Into<String>,
        total: usize,
        waker: Option<Waker>,
        work: impl FnOnce(&Progress) -> T + Send + 'static,
    ) -> Self {
        let (tx, rx) = channel();
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        // A failed spawn drops the sender: polling then reports the job lost.
        let _ = std::thread::Builder::new()
            .name("hounsfield-job".into())
            .spawn(move || {
                let r = match pool() {
                    Some(pool) => pool.install(|| work(&p)),
                    None => work(&p),
                };
                let _ = tx.send(r);
                if let Some(w) = waker {
                    w();
                }
            });
        Self {
            label: label.into(),
            progress,
            total,
            started: Instant::now(),
            rx,
        }
    }

    /// The result, once there is one.
    pub fn poll(&self) -> Poll<T> {
        match self.rx.try_recv() {
            Ok(r) => Poll::Done(r),
            Err(TryRecvError::Empty) => Poll::Running,
            Err(TryRecvError::Disconnected) => Poll::Lost,
        }
    }

    /// Waits for the result (headless use, scripts, tests); `None` when the worker was lost.
    pub fn wait(self) -> Option<T> {
        self.rx.recv().ok()
    }

    /// Asks the worker to stop at its next check.
    pub fn cancel(&self) {
        self.progress.cancel.store(true, Ordering::Relaxed);
    }

    /// True once cancellation was asked for.
    pub fn cancelled(&self) -> bool {
        self.progress.cancel.load(Ordering::Relaxed)
    }

    /// Fraction done, when known.
    pub fn fraction(&self) -> Option<f32> {
        (self.total > 0).then(|| {
            (self.progress.done.load(Ordering::Relaxed) as f32 / self.total as f32).min(1.0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn results_come_back_and_the_waker_is_called() {
        let woke = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w = woke.clone();
        let job = Job::spawn(
            "sum",
            10,
            Some(Box::new(move || w.store(true, Ordering::SeqCst))),
            |p| {
                let mut s = 0;
                for i in 0..10 {
                    s += i;
                    p.done.fetch_add(1, Ordering::Relaxed);
                }
                s
            },
        );
        assert_eq!(job.wait(), Some(45));
        // The waker runs just after the result is sent (so a woken window always finds it):
        // give the worker a moment to get there.
        let t0 = Instant::now();
        while !woke.load(Ordering::SeqCst) && t0.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(woke.load(Ordering::SeqCst));
    }

    #[test]
    fn the_ui_threads_parallel_loops_do_not_wait_for_a_job() {
        // The job holds every thread of its pool until the test thread's parallel loop on
        // the global pool has finished: were the job on the global pool, that loop could
        // not run and the job would give up waiting (after 20 s a thread, not a timing check).
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let done_rx = std::sync::Mutex::new(done_rx);
        let (held_tx, held_rx) = std::sync::mpsc::channel::<usize>();
        let job = Job::spawn("holds its pool", 0, None, move |_| {
            let _ = held_tx.send(rayon::current_num_threads());
            rayon::broadcast(|_| {
                let _ = held_tx.send(1);
                let rx = done_rx.lock().unwrap_or_else(|e| e.into_inner());
                let released = rx.recv_timeout(std::time::Duration::from_secs(20)).is_ok();
                (
                    std::thread::current().name().map(str::to_string),
                    released,
                    nice(),
                )
            })
        });
        // Once every thread of the job's pool is held:
        let wait = std::time::Duration::from_secs(60);
        let threads = held_rx.recv_timeout(wait).expect("the job started");
        for _ in 0..threads {
            held_rx
                .recv_timeout(wait)
                .expect("a thread of the job's pool is held");
        }
        let sum: u64 = (0..100_000u64).into_par_iter().sum();
        assert_eq!(sum, 4_999_950_000);
        for _ in 0..threads {
            let _ = done_tx.send(());
        }
        let held = job.wait().expect("the job finished");
        assert!(!held.is_empty());
        let ours = nice();
        for (name, released, theirs) in held {
            assert!(
                released,
                "the job's pool was the one the test thread needed"
            );
            assert!(name.is_some_and(|n| n.starts_with("hounsfield-jobs-")));
            // A job's threads give way to the window's.
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                assert_eq!(theirs, (ours + JOB_NICENESS).min(19));
            }
        }
    }

    /// The calling thread's nice value, where threads have their own.
    fn nice() -> Option<i32> {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: reads the calling thread's priority.
            Some(unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) })
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        {
            None
        }
    }

    #[test]
    fn a_cancelled_job_sees_the_flag_and_a_lost_worker_is_reported() {
        let job = Job::spawn("wait", 0, None, |p| {
            while !p.cancel.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            "stopped"
        });
        job.cancel();
        assert_eq!(job.wait(), Some("stopped"));
        let lost: Job<u8> = Job::spawn("panics", 0, None, |_| panic!("worker failed"));
        let t0 = Instant::now();
        loop {
            match lost.poll() {
                Poll::Lost => break,
                Poll::Done(_) => panic!("no result expected"),
                Poll::Running => {
                    assert!(t0.elapsed().as_secs() < 10);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        }
    }
}
