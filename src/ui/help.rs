//! Mouse and keyboard bindings: shown in the Help window and listed in the README (a test
//! keeps the two in step).

/// (input, action) pairs of the slice views.
pub const SLICE_BINDINGS: &[(&str, &str)] = &[
    ("Mouse wheel", "next / previous slice"),
    ("Arrow up / down", "next / previous slice"),
    ("Page up / down", "10 slices"),
    (
        "Left click or drag",
        "move the crosshair (all views follow)",
    ),
    (
        "Right drag or ctrl+left drag",
        "window (horizontal) / level (vertical)",
    ),
    (
        "Ctrl+left drag on a crosshair line",
        "rotate the other planes (oblique MPR)",
    ),
    ("Ctrl+wheel", "zoom"),
    ("Middle drag", "pan"),
    ("Double click", "maximise the view / back to the layout"),
];

/// (input, action) pairs of the 3D view.
pub const VIEW3D_BINDINGS: &[(&str, &str)] = &[
    ("Left drag", "rotate (trackball)"),
    ("Mouse wheel or ctrl+wheel", "zoom"),
    ("Middle drag or right drag", "pan"),
    ("Double click", "maximise the view / back to the layout"),
];
