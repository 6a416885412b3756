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
    /// Starts `work` on its own thread.
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
                let _ = tx.send(work(&p));
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
