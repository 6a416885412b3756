//! `hounsfield bench`: timings on real data, printed with the peer commands to compare.

use super::input;
use crate::dicom::{ImportOptions, LoadOptions};
use crate::error::Error;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub what: BenchWhat,
}

/// Benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchWhat {
    /// Folder scan + decode + HU volume of one series.
    Import {
        /// A DICOM folder holding the series (e.g. ct-head-phantom/S21570/S2030).
        path: PathBuf,
        /// The series, when the folder holds several.
        #[arg(long)]
        series: Option<String>,
        /// Repetitions (the first is included; page cache is warm after it).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
}

/// Runs a benchmark.
pub fn run(a: &BenchArgs) -> Result<(), Error> {
    match &a.what {
        BenchWhat::Import {
            path,
            series,
            repeats,
        } => import(path, series.as_deref(), *repeats),
    }
}

fn import(path: &std::path::Path, series: Option<&str>, repeats: usize) -> Result<(), Error> {
    if repeats == 0 {
        return Err(Error::BadInput("--repeats must be at least 1".into()));
    }
    let opts = ImportOptions::default();
    let rss_before = peak_rss_kib();
    let mut scan_s = Vec::new();
    let mut load_s = Vec::new();
    let mut total_s = Vec::new();
    let mut size = 0usize;
    let mut dims = [0usize; 3];
    for _ in 0..repeats {
        let t0 = Instant::now();
        let report = input::scan(path, &opts)?;
        let s = input::select(&report, series)?;
        let t1 = Instant::now();
        let v = input::load(s, &LoadOptions::default())?;
        let t2 = Instant::now();
        size = v.volume.size_bytes();
        dims = v.volume.dims();
        scan_s.push((t1 - t0).as_secs_f64());
        load_s.push((t2 - t1).as_secs_f64());
        total_s.push((t2 - t0).as_secs_f64());
    }
    let stat = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        (s[0], s[s.len() / 2])
    };
    let (smin, smed) = stat(&scan_s);
    let (lmin, lmed) = stat(&load_s);
    let (tmin, tmed) = stat(&total_s);
    let peak = peak_rss_kib();
    println!("bench import: {}", path.display());
    println!(
        "  volume {} x {} x {} = {:.1} MiB of i16; threads {}",
        dims[2],
        dims[1],
        dims[0],
        size as f64 / 1048576.0,
        rayon::current_num_threads()
    );
    println!("  scan (headers, grouping)   min {smin:.3} s  median {smed:.3} s");
    println!("  decode + HU volume         min {lmin:.3} s  median {lmed:.3} s");
    println!("  total                      min {tmin:.3} s  median {tmed:.3} s  ({repeats} runs)");
    if let (Some(b), Some(p)) = (rss_before, peak) {
        println!(
            "  peak RSS {:.1} MiB (process), {:.1} MiB before the first run; peak / volume = {:.2}",
            p as f64 / 1024.0,
            b as f64 / 1024.0,
            (p as f64 * 1024.0) / size.max(1) as f64
        );
    }
    println!("  peers (same folder, same machine):");
    println!("    dcm2niix -z n -o /tmp/out {}", path.display());
    println!("    SimpleITK: ImageSeriesReader(GetGDCMSeriesFileNames(dir)).Execute()");
    println!("    see ../shared/bench/peers/peers.py (stage a_load)");
    Ok(())
}

/// Peak resident set size of this process, KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}
