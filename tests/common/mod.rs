//! Helpers shared by the end-to-end tests.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

pub mod series;
pub mod ui;

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled sample series.
pub fn sample() -> PathBuf {
    repo().join("assets/sample-s2030")
}

/// Whether this is the CI run (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Where skipped tests are listed; `packaging/test.sh` empties it first and prints it last.
pub fn skip_list() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests.txt")
}

/// Records that the calling test cannot run here because `reason` (data, a tool or an
/// adapter is absent): a failure under `CI=true`; otherwise a line in [`skip_list`] — cargo
/// hides a passing test's stderr, so a skip must be counted where the summary sees it.
pub fn skip(reason: &str) {
    assert!(!in_ci(), "CI=true but {reason}");
    let exe = std::env::current_exe().ok();
    let binary = exe
        .as_deref()
        .and_then(Path::file_stem)
        .and_then(|s| s.to_str())
        .map_or("?", |s| s.split('-').next().unwrap_or(s));
    let test = std::thread::current().name().unwrap_or("?").to_string();
    eprintln!("skipping {binary}::{test}: {reason}");
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(skip_list())
    {
        let _ = writeln!(f, "{binary}::{test}: {reason}");
    }
}

/// `../shared/data/ct-head-phantom`, or `None` when absent (a user's fresh clone); see
/// [`skip`].
pub fn phantom() -> Option<PathBuf> {
    let p = repo().join("../shared/data/ct-head-phantom");
    if p.is_dir() {
        return Some(p);
    }
    skip(&format!(
        "{} is missing (tests on real data need ../shared)",
        p.display()
    ));
    None
}

/// A wgpu adapter (Mesa's lavapipe is enough), or `None` after [`skip`].
pub fn gpu() -> Option<hounsfield::gpu::Gpu> {
    match hounsfield::gpu::Gpu::headless() {
        Ok(g) => Some(g),
        Err(e) => {
            skip(&format!(
                "no GPU adapter (install mesa-vulkan-drivers): {e}"
            ));
            None
        }
    }
}

/// Whether every one of `tools` is on the PATH; [`skip`] naming `what` when not.
fn have_tools(tools: &[&str], what: &str) -> bool {
    let ok = tools.iter().all(|t| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        skip(&format!(
            "{what} is missing (packaging/setup-debian.sh installs it)"
        ));
    }
    ok
}

/// Whether `xvfb-run` exists; [`skip`] when not.
pub fn have_xvfb() -> bool {
    have_tools(&["xvfb-run"], "xvfb-run")
}

/// Whether DCMTK's command-line tools (an independent DICOM codec implementation) are on
/// the PATH; [`skip`] when not.
pub fn have_dcmtk() -> bool {
    have_tools(&["dcmcjpls", "dcmdrle"], "DCMTK (dcmcjpls, dcmdrle)")
}

/// Whether dcm2niix (an independent DICOM-to-NIfTI converter) is on the PATH; [`skip`]
/// when not.
pub fn have_dcm2niix() -> bool {
    have_tools(&["dcm2niix"], "dcm2niix")
}

/// The Python interpreter of the test virtualenv made by packaging/setup-debian.sh, or
/// `None` when absent outside CI.
pub fn python() -> Option<PathBuf> {
    let p = repo().join(".venv-test/bin/python");
    if p.is_file() {
        return Some(p);
    }
    skip(&format!(
        "{} is missing (run packaging/setup-debian.sh)",
        p.display()
    ));
    None
}

/// Runs the `hounsfield` binary; returns (exit code, stdout, stderr).
pub fn hounsfield(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hounsfield"))
        .args(args)
        .output()
        .expect("the hounsfield binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A path as &str for argument lists.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Writes `recipe` (JSON) into `dir`, runs `hounsfield segment INPUT` with it and returns
/// the mask written (`name`.nii.gz); fails the test on a non-zero exit.
pub fn segment_to(dir: &Path, input: &Path, recipe: &str, name: &str) -> PathBuf {
    let r = dir.join(format!("{name}.recipe.json"));
    std::fs::write(&r, recipe).expect("recipe written");
    let mask = dir.join(format!("{name}.nii.gz"));
    let (code, _, err) = hounsfield(&["segment", s(input), "--recipe", s(&r), "--out", s(&mask)]);
    assert_eq!(code, 0, "{err}");
    mask
}

/// Runs a Python checker from tests/py with the test interpreter; returns its stdout and
/// fails the test, with its output, when it exits non-zero.
pub fn run_checker(py: &Path, script: &str, args: &[&str]) -> String {
    let o = std::process::Command::new(py)
        .arg(repo().join("tests/py").join(script))
        .args(args)
        .output()
        .expect("python runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{script}: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// The bone recipe of the acceptance tests: 226–3071 HU and the largest 26-component.
pub const BONE_RECIPE: &str =
    r#"[{"op": "threshold", "lo": 226, "hi": 3071}, {"op": "keep_largest", "connectivity": 26}]"#;
