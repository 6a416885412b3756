//! Panics inside third-party parsers and codecs (dicom-rs has known ones on hostile input)
//! become errors on the file that caused them. While contained they are logged at debug
//! level instead of printed, so a damaged file reads as "damaged", not as a crash report;
//! panics anywhere else still print as usual.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

static HOOK: Once = Once::new();

/// Runs `f`; `None` when it panicked.
pub fn contain<T>(f: impl FnOnce() -> T) -> Option<T> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) > 0 {
                tracing::debug!("contained a panic in a DICOM decoder: {info}");
            } else {
                previous(info);
            }
        }));
    });
    DEPTH.with(|d| d.set(d.get() + 1));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    r.ok()
}
