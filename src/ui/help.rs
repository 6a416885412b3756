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

/// (input, action) pairs of the editing tools (with a case open).
pub const EDITOR_BINDINGS: &[(&str, &str)] = &[
    (
        "Left drag (Brush)",
        "paint or erase one stroke (one operation)",
    ),
    ("Left click (Brush)", "one dab"),
    ("Shift+wheel, `[` / `]` (Brush)", "smaller / larger brush"),
    (
        "Left click (Lasso, Scissors)",
        "add a polygon vertex; double click or Enter closes it",
    ),
    ("Escape", "drop the polygon or stroke in progress"),
    (
        "Left click (Seed)",
        "add a seed for region growing or islands",
    ),
    (
        "Ctrl+Z / Ctrl+Shift+Z",
        "undo / redo (the button says what)",
    ),
    (
        "V or Enter (Verify)",
        "confirm this slice and go to the next",
    ),
    ("F (Verify)", "flag this slice with the note"),
    ("Arrow up / down (Verify)", "move without confirming"),
];
