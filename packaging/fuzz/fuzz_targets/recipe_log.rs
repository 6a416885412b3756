//! The text a user or another tool hands us: recipes (`run`, `segment`), operation logs
//! (`replay`) and a case's journal. Parsing must refuse with a message, never panic.
#![no_main]

use hounsfield::case::event::Record;
use hounsfield::case::journal::Journal;
use hounsfield::case::recipe;
use hounsfield::segment::{OperationLog, Operation};
use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = recipe::parse(text) {
            // A recipe that parses must describe itself without panicking.
            let _ = format!("{r:?}");
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            let _ = Operation::parse_list(&v, "recipe step");
        }
        if let Ok(log) = serde_json::from_str::<OperationLog>(text) {
            let _ = log.applied().count();
        }
    }
    let p = scratch::file("case.jsonl", data);
    let _ = Journal::open::<Record>(&p, true);
});
