//! The report as one self-contained, printable HTML page: every section of [`Report`] as
//! tables, the pictures embedded as PNG data URIs, no script and nothing fetched. Every
//! text from the case (DICOM tags, operator notes) is escaped.

use super::Report;
use super::thumbs::Picture;
use base64::Engine;
use std::fmt::Write as _;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "—".to_string(), |x| esc(&x.to_string()))
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{x:.digits$}"))
}

fn row(out: &mut String, k: &str, v: &str) {
    let _ = writeln!(out, "<tr><th>{}</th><td>{v}</td></tr>", esc(k));
}

const STYLE: &str = r#"
body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; margin: 2em auto; max-width: 1100px; padding: 0 1.5em; }
h1 { font-size: 22px; margin: 0 0 .2em; }
h2 { font-size: 16px; border-bottom: 2px solid #2c5d8a; padding-bottom: 2px; margin-top: 1.8em; color: #2c5d8a; }
h3 { font-size: 14px; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; margin: .4em 0 1em; width: 100%; }
th, td { border: 1px solid #c8ccd0; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eef2f5; font-weight: 600; }
table.kv th { width: 28%; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .hash { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 11.5px; word-break: break-all; }
.sev-error { color: #a40000; font-weight: 700; }
.sev-warning { color: #9a5b00; font-weight: 700; }
.sev-info { color: #2d5f2d; }
.ok { color: #1d6b1d; font-weight: 600; }
.bad { color: #a40000; font-weight: 700; }
.none { color: #666; font-style: italic; }
.figs { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; flex: 1 1 46%; border: 1px solid #c8ccd0; padding: 6px; background: #fafafa; page-break-inside: avoid; }
figure img { width: 100%; height: auto; image-rendering: auto; background: #000; }
figcaption { font-size: 11.5px; color: #444; margin-top: 4px; }
.banner { background: #fff4e0; border: 1px solid #e0b060; padding: 6px 10px; margin: .6em 0; }
header .meta { color: #555; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-after: avoid; } table { page-break-inside: auto; } tr { page-break-inside: avoid; } }
"#;

/// Section 13: the phantom validation of the conversion, when the case is one.
fn validation(o: &mut String, v: Option<&super::ValidationSection>) {
    o.push_str("<h2>13. Validation on a phantom of known geometry (§6.5)</h2>");
    let Some(section) = v else {
        o.push_str("<p class=\"none\">No phantom validation is attached to this case. <code>hounsfield validate PHANTOM --recipe R.json --out V.hfcase</code> takes a phantom of known geometry through the same recipe and states the errors of the conversion; the recipe field <code>\"validation\": \"V.hfcase\"</code> attaches it to the cases the recipe makes.</p>");
        return;
    };
    let Some(x) = &section.result else {
        let _ = write!(
            o,
            "<p class=\"bad\">validation.json: {}</p>",
            esc(&section.state)
        );
        return;
    };
    let i = &x.import;
    if let Some(attached) = section.state.strip_prefix("attached") {
        let same = !attached.contains("other");
        let _ = write!(
            o,
            "<p>This case's pipeline was validated on the phantom <span class=\"hash\">{}</span> on {} ({}) — <b class=\"{}\">{}</b>{}. The errors below are those of the conversion on objects of known geometry; the threshold chosen for this patient is not among them.</p>",
            esc(&x.series_uid),
            esc(&x.time),
            esc(&x.software),
            if same { "ok" } else { "bad" },
            esc(&section.state),
            if same {
                ""
            } else {
                " — re-run the validation with this recipe"
            }
        );
    } else {
        let _ = write!(
            o,
            "<p>This case ran its recipe on the phantom <span class=\"hash\">{}</span> and was measured against the phantom's analytic truth on {} ({}). State: <b class=\"{}\">{}</b>{}.</p>",
            esc(&x.series_uid),
            esc(&x.time),
            esc(&x.software),
            if section.state == "current" {
                "ok"
            } else {
                "bad"
            },
            esc(&section.state),
            if section.state == "current" {
                ""
            } else {
                " — the segmentation changed after the measurement; run the validation again"
            }
        );
    }
    let _ = write!(
        o,
        "<p>Import: slice distance {} mm generated, {} measured; tilt {}° generated, {} measured; findings [{}], expected [{}]: <b class=\"{}\">{}</b>.</p>",
        num(Some(i.slice_distance_mm), 3),
        num(i.measured_slice_distance_mm, 3),
        num(Some(i.tilt_deg), 2),
        num(i.measured_tilt_deg, 2),
        esc(&i.findings.join(", ")),
        esc(&i.expected_findings.join(", ")),
        if i.matches { "ok" } else { "bad" },
        if i.matches {
            "as generated"
        } else {
            "MISMATCH"
        }
    );
    o.push_str("<table><tr><th>Object</th><th>Volume error (model / mask)</th><th>Centroid off</th><th>Model→truth mean / p95 / max</th><th>Truth→model mean / p95 / max</th><th>Dice</th><th>Dimensions (true → error)</th></tr>");
    for ob in &x.objects {
        let dims: Vec<String> = ob
            .dimensions
            .iter()
            .map(|d| {
                format!(
                    "{} {} mm → {}",
                    esc(&d.name),
                    num(Some(d.true_mm), 2),
                    d.error_mm
                        .map_or("not measurable".into(), |e| format!("{e:+.3} mm"))
                )
            })
            .collect();
        let _ = write!(
            o,
            "<tr><td>{}{}</td><td class=\"num\">{} % / {} %</td><td class=\"num\">{} mm</td><td class=\"num\">{} / {} / {} mm</td><td class=\"num\">{} / {} / {} mm</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&ob.name),
            if ob.found {
                ""
            } else {
                " <b class=\"bad\">not found</b>"
            },
            num(Some(ob.model_volume_error_pct), 2),
            num(Some(ob.mask_volume_error_pct), 2),
            num(Some(ob.centroid_error_mm), 3),
            num(Some(ob.model_to_truth.mean_mm), 3),
            num(Some(ob.model_to_truth.p95_mm), 3),
            num(Some(ob.model_to_truth.max_mm), 3),
            num(Some(ob.truth_to_model.mean_mm), 3),
            num(Some(ob.truth_to_model.p95_mm), 3),
            num(Some(ob.truth_to_model.max_mm), 3),
            num(Some(ob.dice), 4),
            dims.join("<br>")
        );
    }
    o.push_str("</table>");
}

/// Renders the report with its pictures.
pub fn render(r: &Report, pictures: &[Picture]) -> String {
    let mut o = String::with_capacity(64 << 10);
    let id = &r.identification;
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Hounsfield report — {}</title><style>{STYLE}</style></head><body>\n",
        esc(&id.case)
    );
    let _ = write!(
        o,
        "<header><h1>Medical image-based model report (ISO/IEC 3532-1)</h1><div class=\"meta\">Case <b>{}</b> · pseudonym <b>{}</b> · generated {} by {} {} (commit <code>{}</code>, {})</div></header>",
        esc(&id.case),
        esc(&id.pseudonym),
        esc(&id.generated),
        esc(&id.software.name),
        esc(&id.software.version),
        esc(&id.software.commit),
        esc(&id.software.platform)
    );
    if !r.feasibility.unacknowledged.is_empty() {
        let _ = write!(
            o,
            "<div class=\"banner\">Findings not yet acknowledged: <b>{}</b></div>",
            esc(&r.feasibility.unacknowledged.join(", "))
        );
    }

    // Identification
    o.push_str("<h2>1. Identification</h2><table class=\"kv\">");
    row(&mut o, "Case", &esc(&id.case));
    row(
        &mut o,
        "Pseudonym (stands for the patient in every export)",
        &esc(&id.pseudonym),
    );
    row(&mut o, "Case created", &esc(&id.case_created));
    row(
        &mut o,
        "Created with",
        &format!(
            "{} {} (commit <code>{}</code>, {})",
            esc(&id.case_software.name),
            esc(&id.case_software.version),
            esc(&id.case_software.commit),
            esc(&id.case_software.platform)
        ),
    );
    row(&mut o, "Operators", &esc(&id.operators.join(", ")));
    row(&mut o, "Report generated", &esc(&id.generated));
    o.push_str("</table>");

    // Purpose
    o.push_str("<h2>2. Clinical purpose</h2><table class=\"kv\">");
    row(&mut o, "Category", &esc(r.purpose.category.label()));
    row(&mut o, "Description", &esc(&r.purpose.text));
    o.push_str("</table>");

    // Acquisition
    let a = &r.acquisition;
    o.push_str("<h2>3. Acquisition protocol (§6.2)</h2><table class=\"kv\">");
    row(
        &mut o,
        "Source",
        &format!(
            "{} · {} file(s), {:.1} MB",
            esc(&a.source_kind),
            a.files,
            a.bytes as f64 / 1e6
        ),
    );
    row(
        &mut o,
        "Series",
        &format!("{} — {}", opt(&a.series_number), esc(&a.description)),
    );
    row(
        &mut o,
        "Series Instance UID",
        &format!("<code>{}</code>", opt(&a.series_uid)),
    );
    row(&mut o, "Modality", &opt(&a.modality));
    match &a.protocol {
        None => row(
            &mut o,
            "Protocol",
            "<span class=\"none\">not recorded: the source carries no acquisition protocol</span>",
        ),
        Some(p) => {
            row(
                &mut o,
                "Scanner",
                &format!(
                    "{} {} ({})",
                    opt(&p.manufacturer),
                    opt(&p.model),
                    opt(&p.station)
                ),
            );
            row(
                &mut o,
                "Software versions",
                &esc(&p.software_versions.join(", ")),
            );
            row(
                &mut o,
                "Study / series / acquisition date",
                &format!(
                    "{} / {} / {}",
                    opt(&p.study_date),
                    opt(&p.series_date),
                    opt(&p.acquisition_date)
                ),
            );
            row(&mut o, "Protocol name", &opt(&p.protocol_name));
            row(&mut o, "Body part", &opt(&p.body_part));
            row(&mut o, "Tube voltage (kVp)", &num(p.kvp, 0));
            row(
                &mut o,
                "Tube current (mA), min / median / max",
                &p.tube_current_ma.map_or("—".into(), |m| {
                    format!("{:.0} / {:.0} / {:.0}", m.min, m.median, m.max)
                }),
            );
            row(
                &mut o,
                "Exposure (mAs), min / median / max",
                &p.exposure_mas.map_or("—".into(), |m| {
                    format!("{:.0} / {:.0} / {:.0}", m.min, m.median, m.max)
                }),
            );
            row(&mut o, "CTDIvol (mGy)", &num(p.ctdi_vol_mgy, 2));
            row(
                &mut o,
                "Reconstruction kernel",
                &esc(&p.reconstruction_kernel.join(", ")),
            );
            row(&mut o, "Filter type", &opt(&p.filter_type));
            row(
                &mut o,
                "Slice thickness (nominal, tag)",
                &format!("{} mm", num(p.slice_thickness_mm, 3)),
            );
            row(
                &mut o,
                "Pixel spacing (row, column)",
                &p.pixel_spacing_mm
                    .map_or("—".into(), |s| format!("{:.4} × {:.4} mm", s[0], s[1])),
            );
            row(
                &mut o,
                "Matrix",
                &format!("{} × {} × {} slices", p.columns, p.rows, p.slices),
            );
            row(&mut o, "Patient position", &opt(&p.patient_position));
            row(
                &mut o,
                "Contrast agent",
                &p.contrast_agent
                    .as_ref()
                    .map_or("none recorded".into(), |c| esc(c)),
            );
            row(&mut o, "Spiral pitch factor", &num(p.spiral_pitch, 3));
            row(
                &mut o,
                "Reconstruction diameter",
                &format!("{} mm", num(p.reconstruction_diameter_mm, 1)),
            );
            row(
                &mut o,
                "Transfer syntax",
                &format!(
                    "<code>{}</code>{}",
                    esc(&p.transfer_syntax),
                    if p.lossy_compression {
                        " (lossy)"
                    } else {
                        " (lossless)"
                    }
                ),
            );
        }
    }
    row(
        &mut o,
        "Slice distance from image positions (min / median / max)",
        &a.slice_distance_mm.map_or("—".into(), |m| {
            format!("{:.3} / {:.3} / {:.3} mm", m.min, m.median, m.max)
        }),
    );
    row(
        &mut o,
        "Gantry tilt (measured / tag)",
        &format!(
            "{}° / {}°",
            num(a.tilt.measured_deg, 2),
            num(a.tilt.tag_deg, 2)
        ),
    );
    row(
        &mut o,
        "Resampling",
        &a.resampling
            .as_ref()
            .map_or("none: the slices form a regular grid".into(), |rs| {
                format!(
                    "{} — {}; {} → {} slices at {:.3} mm",
                    esc(&rs.reasons.join("; ")),
                    esc(&rs.method),
                    rs.input_slices,
                    rs.output_slices,
                    rs.slice_distance_mm
                )
            }),
    );
    row(
        &mut o,
        "Interpolated slices (not acquired)",
        &if a.interpolated_slices.is_empty() {
            "none".into()
        } else {
            format!(
                "<span class=\"bad\">{}</span>",
                esc(&format!("{:?}", a.interpolated_slices))
            )
        },
    );
    row(
        &mut o,
        "Volume grid",
        &format!(
            "{} × {} × {} (columns × rows × slices), {:.4} × {:.4} × {:.4} mm",
            a.dims[2], a.dims[1], a.dims[0], a.spacing_mm[2], a.spacing_mm[1], a.spacing_mm[0]
        ),
    );
    o.push_str("</table>");

    // Feasibility
    let f = &r.feasibility;
    o.push_str("<h2>4. Feasibility of the images</h2>");
    if f.findings.is_empty() {
        o.push_str("<p class=\"none\">No findings.</p>");
    } else {
        o.push_str("<table><tr><th>Code</th><th>Severity</th><th>Finding</th></tr>");
        for x in &f.findings {
            let sev = format!("{:?}", x.severity).to_lowercase();
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td class=\"sev-{sev}\">{sev}</td><td>{}</td></tr>",
                esc(x.code.as_str()),
                esc(&x.message)
            );
        }
        o.push_str("</table>");
    }
    if let Some(ps) = &f.pixel_stats {
        let _ = write!(
            o,
            "<p>Noise σ in soft tissue: {} HU; voxels at or above the metal threshold: {}.</p>",
            num(ps.noise_sigma_hu, 1),
            ps.metal_voxels
        );
    }
    o.push_str("<h3>Acknowledgement</h3>");
    if f.acknowledgements.is_empty() {
        o.push_str("<p class=\"none\">None recorded.</p>");
    } else {
        o.push_str("<table><tr><th>Codes</th><th>Operator</th><th>Time</th><th>Note</th></tr>");
        for ack in &f.acknowledgements {
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&ack.codes.join(", ")),
                esc(&ack.operator),
                esc(&ack.time),
                opt(&ack.note)
            );
        }
        o.push_str("</table>");
    }

    // Pictures
    if !pictures.is_empty() {
        o.push_str("<h2>5. Images</h2><div class=\"figs\">");
        for p in pictures {
            if let Ok(png) = p.png() {
                let _ = write!(
                    o,
                    "<figure><img alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{}</figcaption></figure>",
                    esc(&p.caption),
                    base64::engine::general_purpose::STANDARD.encode(png),
                    esc(&p.caption)
                );
            }
        }
        o.push_str("</div>");
    }

    // Segmentation
    let s = &r.segmentation;
    o.push_str("<h2>6. Segmentation (§6.3)</h2><h3>Operations, in order</h3>");
    if s.operations.is_empty() {
        o.push_str("<p class=\"none\">No operation yet.</p>");
    } else {
        o.push_str("<table><tr><th>#</th><th>Operation</th><th>Parameters</th><th>Result</th><th>Operator</th><th>Time</th></tr>");
        for op in &s.operations {
            let changes: Vec<String> = op
                .changes
                .iter()
                .map(|c| format!("{}: +{} / −{} voxels", c.label, c.added, c.removed))
                .collect();
            let undone = op.status == crate::segment::log::EntryStatus::Undone;
            let _ = write!(
                o,
                "<tr><td class=\"num\">{}</td><td><b>{}</b>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                op.index,
                esc(&op.op),
                if undone {
                    " <span class=\"none\">(undone)</span>"
                } else {
                    ""
                },
                esc(&op.parameters.to_string()),
                esc(&changes
                    .into_iter()
                    .chain(op.notes.iter().cloned())
                    .collect::<Vec<_>>()
                    .join("; ")),
                esc(&op.operator),
                esc(&op.time)
            );
        }
        o.push_str("</table>");
    }
    let m = &s.manual_edits;
    o.push_str("<h3>Manual edits</h3>");
    if m.strokes == 0 {
        o.push_str("<p class=\"none\">No manual edit (brush, lasso, scissors).</p>");
    } else {
        let _ = write!(
            o,
            "<p>{} stroke(s): {} voxels added, {} removed.</p><table><tr><th>Label</th><th>Slices</th><th>Added</th><th>Removed</th></tr>",
            m.strokes, m.voxels_added, m.voxels_removed
        );
        for c in &m.per_stroke {
            for run in &c.slices {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}–{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    esc(&c.label),
                    run.first,
                    run.last,
                    run.added,
                    run.removed
                );
            }
        }
        o.push_str("</table>");
    }
    o.push_str("<h3>Labels</h3><table><tr><th>Label</th><th>Voxels</th><th>Volume</th><th>Mask blake3</th></tr>");
    for l in &s.labels {
        let _ = write!(
            o,
            "<tr><td><span style=\"color:rgb({},{},{})\">■</span> {}</td><td class=\"num\">{}</td><td class=\"num\">{:.1} mm³</td><td class=\"hash\">{}</td></tr>",
            l.color[0],
            l.color[1],
            l.color[2],
            esc(&l.name),
            l.voxels,
            l.volume_mm3,
            esc(&l.mask_hash)
        );
    }
    o.push_str("</table>");

    // Verification
    let v = &r.verification;
    o.push_str("<h2>7. Slice-by-slice verification</h2>");
    let _ = write!(
        o,
        "<p>State: <b class=\"{}\">{}</b> ({} mark(s) recorded).</p>",
        if v.state == "complete" { "ok" } else { "bad" },
        esc(&v.state),
        v.marks
    );
    o.push_str("<table><tr><th>Label</th><th>Orientation</th><th>Verified</th><th>Flagged</th><th>Changed after verification</th><th>Unverified</th></tr>");
    for c in &v.coverage {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{} of {}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&c.label),
            c.orientation.as_str(),
            c.verified,
            c.planes,
            c.flagged,
            c.changed_after_verification,
            c.unverified
        );
    }
    o.push_str("</table>");

    // Reconstruction
    o.push_str("<h2>8. Reconstruction (§6.4)</h2>");
    if r.reconstruction.records.is_empty() {
        o.push_str("<p class=\"none\">Nothing reconstructed yet.</p>");
    }
    for e in &r.reconstruction.records {
        let rec = &e.record;
        let _ = write!(
            o,
            "<h3>Record {} — after {} operation(s), {} by {}{}</h3><table class=\"kv\">",
            e.seq,
            e.log_position,
            esc(&e.time),
            esc(&e.operator),
            if e.current {
                ""
            } else {
                " <span class=\"bad\">(the masks changed since)</span>"
            }
        );
        row(&mut o, "Algorithm", &esc(&rec.algorithm));
        let computed: Vec<String> = rec
            .labels
            .iter()
            .filter_map(|l| {
                l.compute
                    .as_ref()
                    .map(|c| format!("{}: {}", l.name, c.line()))
            })
            .collect();
        row(
            &mut o,
            "Surface topology computed on",
            &if computed.is_empty() {
                "not recorded (the CPU, before this was recorded)".into()
            } else {
                esc(&computed.join("; "))
            },
        );
        row(&mut o, "Frame", &esc(&rec.frame));
        row(&mut o, "Iso-surface", &num(rec.options.iso_hu, 1));
        row(
            &mut o,
            "Smoothing",
            &rec.options
                .smoothing
                .map_or("none".into(), |s| esc(&s.to_string())),
        );
        row(
            &mut o,
            "Smoothing bound",
            &rec.options
                .max_move_mm
                .map_or("none".into(), |m| format!("{m} mm")),
        );
        row(
            &mut o,
            "Decimation",
            &rec.options.decimation.map_or("none".into(), |d| match d {
                crate::mesh::decimate::Decimation::TargetFraction { fraction } => {
                    format!("quadric, to {:.0} % of the triangles", fraction * 100.0)
                }
                crate::mesh::decimate::Decimation::MaxError { max_error_mm } => {
                    format!("quadric, as far as an error of {max_error_mm} mm allows")
                }
            }),
        );
        row(
            &mut o,
            "Repair (only when a check fails)",
            &format!(
                "holes up to {} edges closed; keep only the largest shell: {}",
                rec.options.repair.max_hole_edges,
                if rec.options.repair.keep_largest_shell {
                    "yes"
                } else {
                    "no"
                }
            ),
        );
        row(
            &mut o,
            "Deviation tolerance",
            &format!("{} mm", rec.options.tolerance_mm),
        );
        o.push_str("</table><table><tr><th>Label</th><th>Triangles</th><th>Smoothing moved the surface (max / mean / RMS / p95)</th><th>Area beyond tolerance</th><th>Volume change</th><th>Decimation (max)</th><th>Repair</th></tr>");
        for l in &rec.labels {
            let dev = l.smoothing.as_ref().map_or("not smoothed".into(), |d| {
                format!(
                    "{:.3} / {:.3} / {:.3} / {:.3} mm",
                    d.max_mm, d.mean_mm, d.rms_mm, d.p95_mm
                )
            });
            let beyond = l.smoothing.as_ref().map_or("—".into(), |d| {
                format!(
                    "{:.1} mm² (> {} mm)",
                    d.area_beyond_tolerance_mm2, d.tolerance_mm
                )
            });
            let vol = l.smoothing.as_ref().map_or("—".into(), |d| {
                format!(
                    "{:+.1} mm³ ({:+.2} %)",
                    d.volume_change_mm3, d.volume_change_pct
                )
            });
            let dec = l
                .decimation
                .as_ref()
                .map_or("—".into(), |d| format!("{:.3} mm", d.deviation.max_mm));
            let rp = &l.repair;
            let repair = format!(
                "merged {}, degenerate {}, duplicates {}, flipped {}, holes {}, shells {} ({} triangles)",
                rp.merged_vertices,
                rp.removed_degenerate,
                rp.removed_duplicates,
                rp.flipped,
                rp.holes_filled,
                rp.removed_shells,
                rp.removed_shell_triangles
            );
            let _ = write!(
                o,
                "<tr><td>{}</td><td class=\"num\">{} (extracted {})</td><td>{dev}</td><td>{beyond}</td><td>{vol}</td><td>{dec}</td><td>{}</td></tr>",
                esc(&l.name),
                l.certificate.triangles,
                l.extracted_triangles,
                esc(&repair)
            );
        }
        o.push_str("</table>");
    }

    // Mesh QC
    let q = &r.mesh_qc;
    o.push_str("<h2>9. Model quality and printability</h2>");
    match q.valid {
        None => o.push_str("<p class=\"none\">No model yet.</p>"),
        Some(valid) => {
            let mut failing = Vec::new();
            for (name, c) in &q.certificates {
                let mut f = Vec::new();
                if !c.closed {
                    f.push(format!("{} boundary edges", c.boundary_edges));
                }
                if !c.manifold {
                    f.push(format!("{} non-manifold edges", c.nonmanifold_edges));
                }
                if !c.consistently_oriented || !c.outward {
                    f.push("orientation".to_string());
                }
                if let Some(n) = c.self_intersections.filter(|n| *n > 0) {
                    f.push(format!("{n} self-intersecting triangle pairs"));
                }
                if !f.is_empty() {
                    failing.push(format!("{name}: {}", f.join(", ")));
                }
            }
            let _ = write!(
                o,
                "<p>Certificate: <b class=\"{}\">{}</b>.</p>",
                if valid { "ok" } else { "bad" },
                if valid {
                    "closed, 2-manifold, consistently oriented outward, no self-intersections"
                        .to_string()
                } else {
                    format!(
                        "NOT a valid surface for printing — {}",
                        esc(&failing.join("; "))
                    )
                }
            );
            o.push_str("<table><tr><th>Label</th><th>Closed</th><th>Manifold</th><th>Oriented</th><th>Outward</th><th>Self-intersections</th><th>Shells</th><th>Genus</th><th>Volume</th><th>Area</th></tr>");
            for (name, c) in &q.certificates {
                let yes = |b: bool| {
                    if b {
                        "<span class=\"ok\">yes</span>"
                    } else {
                        "<span class=\"bad\">no</span>"
                    }
                };
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1} mm³</td><td class=\"num\">{:.1} mm²</td></tr>",
                    esc(name),
                    yes(c.closed),
                    yes(c.manifold),
                    yes(c.consistently_oriented),
                    yes(c.outward),
                    opt(&c.self_intersections),
                    c.shells,
                    opt(&c.genus),
                    c.volume_mm3,
                    c.area_mm2
                );
            }
            o.push_str("</table>");
            let _ = write!(
                o,
                "<h3>Thin features (below {} mm, may not print)</h3>",
                num(q.thin_threshold_mm, 2)
            );
            for w in &q.thin_check_warnings {
                let _ = write!(o, "<p class=\"bad\">{}</p>", esc(w));
            }
            if q.thin_regions.is_empty() && q.thin_check_warnings.is_empty() {
                o.push_str("<p class=\"ok\">None found.</p>");
            } else if q.thin_regions.is_empty() {
                o.push_str("<p>None found (see above: the check could not find any).</p>");
            } else {
                let _ = write!(
                    o,
                    "<p>{} region(s):</p><table><tr><th>Label</th><th>Centroid (LPS mm)</th><th>Area</th><th>Thinnest</th><th>Vertices</th></tr>",
                    q.thin_regions.len()
                );
                for (label, t) in q.thin_regions.iter().take(20) {
                    let _ = write!(
                        o,
                        "<tr><td>{}</td><td>{:.1}, {:.1}, {:.1}</td><td class=\"num\">{:.2} mm²</td><td class=\"num\">{:.2} mm</td><td class=\"num\">{}</td></tr>",
                        esc(label),
                        t.centroid_mm[0],
                        t.centroid_mm[1],
                        t.centroid_mm[2],
                        t.area_mm2,
                        t.min_thickness_mm,
                        t.vertices
                    );
                }
                o.push_str("</table>");
                if q.thin_regions.len() > 20 {
                    let _ = write!(
                        o,
                        "<p>… and {} smaller ones (all in report.json).</p>",
                        q.thin_regions.len() - 20
                    );
                }
            }
            // The same limit measured on the mask (distance to the background along the
            // middle of each wall), independent of the surface.
            for (label, m) in &q.mask_thickness {
                let class = if m.thin_region_count > 0 { "bad" } else { "ok" };
                let _ = write!(o, "<p class=\"{class}\">{}</p>", esc(&m.summary(label)));
                if !m.thin_regions.is_empty() {
                    o.push_str("<table><tr><th>Centroid (LPS mm)</th><th>Thickness (median)</th><th>Ridge voxels</th></tr>");
                    for t in &m.thin_regions {
                        let _ = write!(
                            o,
                            "<tr><td>{:.1}, {:.1}, {:.1}</td><td class=\"num\">{:.2} mm</td><td class=\"num\">{}</td></tr>",
                            t.centroid_mm[0],
                            t.centroid_mm[1],
                            t.centroid_mm[2],
                            t.thickness_mm,
                            t.voxels
                        );
                    }
                    o.push_str("</table>");
                }
            }
        }
    }

    // Review
    o.push_str("<h2>10. Physician review and measurements (§6.5)</h2>");
    let rv = &r.review;
    let _ = write!(
        o,
        "<p>State: <b class=\"{}\">{}</b> — {}{}</p>",
        if rv.approved() { "ok" } else { "bad" },
        esc(&rv.state),
        esc(&rv.summary()),
        if rv.approved() {
            ""
        } else {
            ". The case is not approved for manufacture."
        }
    );
    if !rv.changes.is_empty() {
        o.push_str("<ul>");
        for c in &rv.changes {
            let _ = write!(o, "<li class=\"bad\">{}</li>", esc(c));
        }
        o.push_str("</ul>");
    }
    if !rv.decisions.is_empty() {
        o.push_str("<table><tr><th>Record</th><th>Decision</th><th>Reviewer</th><th>Time</th><th>Key fingerprint</th><th>Signature</th><th>Reviewed content</th><th>Notes</th></tr>");
        for d in &rv.decisions {
            let x = &d.decision;
            let notes: Vec<String> = x
                .notes
                .iter()
                .map(|n| {
                    let at = match (&n.slice, n.point_lps_mm) {
                        (Some(sl), _) => format!(
                            " [{} {} plane {}]",
                            sl.label,
                            sl.orientation.as_str(),
                            sl.index
                        ),
                        (None, Some(p)) => {
                            format!(" [at {:.1}, {:.1}, {:.1} mm LPS]", p[0], p[1], p[2])
                        }
                        (None, None) => String::new(),
                    };
                    esc(&format!("{}{at}", n.text))
                })
                .collect();
            let _ = write!(
                o,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"hash\">{}</td><td class=\"{}\">{}</td><td>{} label(s), {} reconstruction(s), {} export(s); segmentation <span class=\"hash\">{}</span></td><td>{}</td></tr>",
                d.seq,
                esc(x.verdict.as_str()),
                esc(&x.reviewer),
                esc(&x.time),
                esc(&x.fingerprint),
                if d.signature_valid { "ok" } else { "bad" },
                if d.signature_valid {
                    "valid".to_string()
                } else {
                    format!(
                        "INVALID: {}",
                        esc(d.signature_problem.as_deref().unwrap_or(""))
                    )
                },
                x.reviewed.masks.len(),
                x.reviewed.reconstructions.len(),
                x.reviewed.exports.len(),
                esc(&x.reviewed.segmentation_hash[..x.reviewed.segmentation_hash.len().min(16)]),
                notes.join("<br>")
            );
        }
        o.push_str("</table>");
    }
    o.push_str("<h3>Measurements</h3>");
    if r.measurements.is_empty() {
        o.push_str("<p class=\"none\">No measurement taken.</p>");
    } else {
        o.push_str("<table><tr><th>Record</th><th>Name</th><th>Kind</th><th>Result</th><th>Positions (LPS mm)</th><th>By</th><th>Time</th></tr>");
        for m in &r.measurements {
            let x = &m.measurement;
            let pts: Vec<String> = x
                .shape
                .points()
                .iter()
                .map(|p| format!("({:.1}, {:.1}, {:.1})", p.0.x, p.0.y, p.0.z))
                .collect();
            let _ = write!(
                o,
                "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                m.seq,
                esc(&x.name),
                esc(x.shape.kind()),
                esc(&x.summary()),
                esc(&pts.join(" ")),
                esc(&x.operator),
                esc(&x.time)
            );
        }
        o.push_str("</table>");
    }

    // Exports
    o.push_str("<h2>11. Exports</h2>");
    if r.exports.is_empty() {
        o.push_str("<p class=\"none\">Nothing exported yet.</p>");
    } else {
        o.push_str("<table><tr><th>File</th><th>Format</th><th>Units, frame</th><th>Made from</th><th>Size</th><th>blake3</th><th>Now</th></tr>");
        for x in &r.exports {
            let rec = &x.record;
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}; {}</td><td>{} after {} op(s); segmentation <span class=\"hash\">{}</span></td><td class=\"num\">{}</td><td class=\"hash\">{}</td><td class=\"{}\">{}</td></tr>",
                esc(&rec.path),
                esc(rec.spec.format.as_str()),
                esc(&rec.units),
                esc(&rec.frame),
                esc(&rec.spec.labels.join(", ")),
                rec.log_position,
                esc(&rec.segmentation_hash[..rec.segmentation_hash.len().min(16)]),
                rec.bytes,
                esc(&rec.blake3),
                if x.state == "matches" { "ok" } else { "bad" },
                esc(&x.state)
            );
        }
        o.push_str("</table>");
    }
    if !r.transmissions.is_empty() {
        o.push_str("<h3>Sent to the archive</h3><table><tr><th>Record</th><th>Archive</th><th>When, by</th><th>File</th><th>SOP Instance UID</th><th>blake3</th><th>Answer</th></tr>");
        for t in &r.transmissions {
            let rec = &t.record;
            for x in &rec.objects {
                let _ = write!(
                    o,
                    "<tr><td class=\"num\">{}</td><td>{}</td><td>{}, {}</td><td>{}</td><td class=\"hash\">{}</td><td class=\"hash\">{}</td><td class=\"{}\">{}</td></tr>",
                    t.seq,
                    esc(&rec.node),
                    esc(&rec.time),
                    esc(&rec.operator),
                    esc(&x.path),
                    esc(&x.sop_instance),
                    esc(&x.blake3[..x.blake3.len().min(16)]),
                    if x.accepted { "ok" } else { "bad" },
                    if x.accepted {
                        "accepted".to_string()
                    } else {
                        format!("refused: {}", esc(&x.refusal))
                    }
                );
            }
        }
        o.push_str("</table>");
    }

    // Reproducibility
    let p = &r.reproducibility;
    o.push_str("<h2>12. Reproducibility</h2><table class=\"kv\">");
    row(
        &mut o,
        "Source volume blake3",
        &format!("<span class=\"hash\">{}</span>", esc(&p.volume_hash)),
    );
    row(
        &mut o,
        &format!("Source files ({}) blake3", p.source_files),
        &format!("<span class=\"hash\">{}</span>", esc(&p.source_files_hash)),
    );
    row(
        &mut o,
        "Segmentation hash",
        &format!("<span class=\"hash\">{}</span>", esc(&p.final_hash)),
    );
    for (l, h) in &p.label_hashes {
        row(
            &mut o,
            &format!("Mask `{l}`"),
            &format!("<span class=\"hash\">{}</span>", esc(h)),
        );
    }
    row(&mut o, "Journal records", &p.journal_records.to_string());
    row(
        &mut o,
        "Replay and check",
        &format!("<code>{}</code>", esc(&p.replay_command)),
    );
    o.push_str("</table>");
    validation(&mut o, r.validation.as_ref());
    o.push_str("<p style=\"color:#666;font-size:11px\">Every figure above was measured by Hounsfield from the case's source files and journal; none was typed by hand. The source DICOM is referenced by hash and was never modified.</p>");
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<b>\"a\" & 'b'</b>"),
            "&lt;b&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/b&gt;"
        );
    }
}
