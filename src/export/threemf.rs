//! 3MF export (3MF Core Specification 1.3, no extensions) of one or more meshes.
//!
//! The package is a ZIP holding `[Content_Types].xml`, `_rels/.rels` and `3D/3dmodel.model`
//! with `unit="millimeter"`, one `<object type="model">` with a shared-vertex `<mesh>` per
//! input object and one `<build><item>` per object. Coordinates are LPS millimetres as
//! given, written as the shortest decimal that round-trips the `f32` value (3MF readers
//! store `f32`). Closed, consistently oriented meshes are the caller's responsibility; this
//! writer checks only what would make the file unreadable (bad indices, repeated indices
//! in a triangle, non-finite coordinates, malformed metadata names).
//!
//! Metadata names are either well-known 3MF names (`Title`, `Designer`, `Description`,
//! `Copyright`, `LicenseTerms`, `Rating`, `CreationDate`, `ModificationDate`,
//! `Application`) or custom names in the Hounsfield namespace, written `hf:Name` with
//! `xmlns:hf` = [`HF_NAMESPACE`] declared on `<model>` (e.g. `hf:SourceSeriesUID`,
//! `hf:CoordinateFrame`, `hf:ReportHash`).
//!
//! The ZIP is written by a small streaming writer in this module (deflate via `flate2`, the
//! model XML rendered and deflated in pieces in parallel and joined into one stream,
//! CRC via `crc32fast`, fixed 1980-01-01 timestamps so equal inputs give equal bytes). It
//! has no ZIP64 support: a package part or the whole package above 4 GiB is an error.

use std::collections::HashSet;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use flate2::Compression;

use crate::io::atomic::write_atomic;

/// XML namespace of 3MF core models.
pub const CORE_NAMESPACE: &str = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02";
/// XML namespace bound to the `hf` prefix for Hounsfield's custom metadata.
pub const HF_NAMESPACE: &str = "https://hounsfield.example/3mf";

/// Metadata names the 3MF core specification defines without a namespace.
const WELL_KNOWN: [&str; 9] = [
    "Title",
    "Designer",
    "Description",
    "Copyright",
    "LicenseTerms",
    "Rating",
    "CreationDate",
    "ModificationDate",
    "Application",
];

/// `[Content_Types].xml`: content types of the relationship and model parts.
const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
 <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
 <Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>
</Types>
"#;

/// `_rels/.rels`: points the package at its 3D model part.
const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
 <Relationship Target="/3D/3dmodel.model" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>
</Relationships>
"#;

/// Deflate level of the package parts: the fastest (the issue's choice: exports should not
/// wait on compression). With zlib-rs, on a 1.6 M-triangle mesh (115 MB of XML), level 1
/// gives 35 MB in 0.35 s and level 2 25 MB in 0.47 s (2026-12-02, 2 cores).
const DEFLATE_LEVEL: u32 = 1;

/// One named mesh: LPS millimetre vertices and counter-clockwise (outward) triangles.
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    /// Object name shown by slicers (XML-escaped on output).
    pub name: &'a str,
    /// Vertex positions in millimetres, DICOM LPS.
    pub vertices: &'a [[f64; 3]],
    /// Vertex indices, counter-clockwise seen from outside.
    pub triangles: &'a [[u32; 3]],
}

/// Writes a 3MF package with `objects` and `(name, value)` model metadata.
pub fn write(path: &Path, objects: &[Object], metadata: &[(&str, &str)]) -> io::Result<()> {
    check_metadata(metadata)?;
    for (k, o) in objects.iter().enumerate() {
        check_object(k, o)?;
    }
    write_atomic(path, |w| {
        let mut zip = ZipWriter::new(w)?;
        zip.part("[Content_Types].xml", &[Piece::Text(CONTENT_TYPES.into())])?;
        zip.part("_rels/.rels", &[Piece::Text(RELS.into())])?;
        zip.part("3D/3dmodel.model", &model_pieces(objects, metadata))?;
        zip.finish()
    })
}

/// Vertices or triangles per piece of the model XML (a few MB of text each).
const PIECE_ITEMS: usize = 1 << 16;

/// A run of the model XML, rendered and deflated on its own (see [`ZipWriter::part`]).
enum Piece<'a> {
    Text(String),
    Vertices(&'a [[f64; 3]]),
    Triangles(&'a [[u32; 3]]),
}

impl Piece<'_> {
    /// The XML of this piece.
    fn render(&self) -> String {
        match self {
            Piece::Text(t) => t.clone(),
            Piece::Vertices(vs) => {
                let mut s = String::with_capacity(vs.len() * 48);
                let mut f = Numbers::default();
                for v in *vs {
                    s.push_str("<vertex x=\"");
                    f.float(&mut s, v[0] as f32);
                    s.push_str("\" y=\"");
                    f.float(&mut s, v[1] as f32);
                    s.push_str("\" z=\"");
                    f.float(&mut s, v[2] as f32);
                    s.push_str("\"/>\n");
                }
                s
            }
            Piece::Triangles(ts) => {
                let mut s = String::with_capacity(ts.len() * 40);
                let mut f = Numbers::default();
                for t in *ts {
                    s.push_str("<triangle v1=\"");
                    s.push_str(f.int.format(t[0]));
                    s.push_str("\" v2=\"");
                    s.push_str(f.int.format(t[1]));
                    s.push_str("\" v3=\"");
                    s.push_str(f.int.format(t[2]));
                    s.push_str("\"/>\n");
                }
                s
            }
        }
    }
}

/// The model XML as pieces in document order: fixed text, then runs of vertices and
/// triangles.
fn model_pieces<'a>(objects: &[Object<'a>], metadata: &[(&str, &str)]) -> Vec<Piece<'a>> {
    use std::fmt::Write as _;
    let mut pieces = Vec::new();
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<model unit=\"millimeter\" xml:lang=\"en-US\" xmlns=\"{CORE_NAMESPACE}\" xmlns:hf=\"{HF_NAMESPACE}\">"
    );
    for (name, value) in metadata {
        let _ = writeln!(
            s,
            " <metadata name=\"{}\">{}</metadata>",
            escape_attr(name),
            escape_text(value)
        );
    }
    s.push_str(" <resources>\n");
    for (k, o) in objects.iter().enumerate() {
        let _ = writeln!(
            s,
            "  <object id=\"{}\" type=\"model\" name=\"{}\">\n   <mesh>\n    <vertices>",
            k + 1,
            escape_attr(o.name)
        );
        pieces.push(Piece::Text(std::mem::take(&mut s)));
        pieces.extend(o.vertices.chunks(PIECE_ITEMS).map(Piece::Vertices));
        s.push_str("    </vertices>\n    <triangles>\n");
        pieces.push(Piece::Text(std::mem::take(&mut s)));
        pieces.extend(o.triangles.chunks(PIECE_ITEMS).map(Piece::Triangles));
        s.push_str("    </triangles>\n   </mesh>\n  </object>\n");
    }
    s.push_str(" </resources>\n <build>\n");
    for k in 0..objects.len() {
        let _ = writeln!(s, "  <item objectid=\"{}\"/>", k + 1);
    }
    s.push_str(" </build>\n</model>\n");
    pieces.push(Piece::Text(s));
    pieces
}

/// Renders `piece` and deflates it as a self-contained run of a raw deflate stream: a
/// fresh compressor ended by a sync flush (byte-aligned, not final), or for the last
/// piece by the final block. Runs made so concatenate into one valid stream (as pigz
/// does). Returns the compressed bytes, the CRC state of the text and its length.
fn deflate_piece(piece: &Piece, last: bool) -> io::Result<(Vec<u8>, crc32fast::Hasher, u64)> {
    use flate2::{Compress, FlushCompress, Status};
    let text = piece.render();
    let bytes = text.as_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(bytes);
    let mut c = Compress::new(Compression::new(DEFLATE_LEVEL), false);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(bytes.len() / 2 + 1024);
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(4096));
        }
        let consumed = usize::try_from(c.total_in()).unwrap_or(usize::MAX);
        let status = c
            .compress_vec(bytes.get(consumed..).unwrap_or(&[]), &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = usize::try_from(c.total_in()).is_ok_and(|n| n == bytes.len());
        match status {
            Status::StreamEnd => break,
            // A flush is complete when it left output space unused.
            _ if !last && all_in && out.len() < out.capacity() => break,
            _ => {}
        }
    }
    Ok((out, crc, bytes.len() as u64))
}

/// Fast number formatting for the mesh XML (`format!` was most of the 3MF write time).
#[derive(Default)]
struct Numbers {
    float: zmij::Buffer,
    int: itoa::Buffer,
}

impl Numbers {
    /// Appends the shortest decimal that round-trips `x`, in `Display`'s form (no `.0` on
    /// integers, never an exponent). Where two shortest decimals are equally near, the last
    /// digit may differ from `Display`'s; both read back as the same `f32`.
    fn float(&mut self, s: &mut String, x: f32) {
        use std::fmt::Write as _;
        let t = self.float.format(x);
        if t.contains(['e', 'E', 'i', 'n', 'N']) {
            let _ = write!(s, "{x}");
        } else {
            s.push_str(t.strip_suffix(".0").unwrap_or(t));
        }
    }
}

/// Rejects metadata that would make the model invalid: unknown or undeclared names, duplicates.
fn check_metadata(metadata: &[(&str, &str)]) -> io::Result<()> {
    let mut seen = HashSet::new();
    for (name, _) in metadata {
        let ok = WELL_KNOWN.contains(name) || name.strip_prefix("hf:").is_some_and(is_ncname);
        if !ok {
            return Err(invalid(format!(
                "3MF metadata name {name:?} is neither a well-known name ({}) nor namespaced as hf:Name",
                WELL_KNOWN.join(", ")
            )));
        }
        if !seen.insert(*name) {
            return Err(invalid(format!("3MF metadata name {name:?} appears twice")));
        }
    }
    Ok(())
}

/// Whether `s` is a plain XML local name (ASCII letters, digits, `_`, `-`, `.`; not starting with a digit).
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Rejects what a 3MF reader would: bad or repeated indices, coordinates that are not finite `f32`.
fn check_object(k: usize, o: &Object) -> io::Result<()> {
    if o.vertices.len() > u32::MAX as usize + 1 {
        return Err(invalid(format!(
            "object {k} ({:?}) has {} vertices, more than 3MF can index",
            o.name,
            o.vertices.len()
        )));
    }
    for (i, v) in o.vertices.iter().enumerate() {
        if !v
            .iter()
            .all(|c| c.is_finite() && c.abs() <= f32::MAX as f64)
        {
            return Err(invalid(format!(
                "object {k} ({:?}): vertex {i} has a non-finite or out-of-range coordinate {v:?}",
                o.name
            )));
        }
    }
    let n = o.vertices.len();
    for (t, tri) in o.triangles.iter().enumerate() {
        if let Some(i) = tri.iter().find(|&&i| i as usize >= n) {
            return Err(invalid(format!(
                "object {k} ({:?}): triangle {t} refers to vertex {i}, but the mesh has {n} vertices",
                o.name
            )));
        }
        if tri[0] == tri[1] || tri[1] == tri[2] || tri[0] == tri[2] {
            return Err(invalid(format!(
                "object {k} ({:?}): triangle {t} repeats a vertex index {tri:?}, which 3MF forbids",
                o.name
            )));
        }
    }
    Ok(())
}

/// Escapes XML element text: markup characters become entities, line breaks and tabs stay
/// literal, other characters XML 1.0 cannot carry become U+FFFD.
///
/// Numeric character references and `&apos;` are avoided: lib3mf's parser rejects them.
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.replace("\r\n", "\n").chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\t' => out.push(c),
            '\r' => out.push('\n'),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Escapes a double-quoted XML attribute value; line breaks and tabs become spaces.
fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\t' | '\r' => out.push(' '),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Whether XML 1.0 allows `c` in a document (other than the whitespace handled by the callers).
fn is_xml_char(c: char) -> bool {
    !((c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}')
}

/// An `InvalidInput` error with `msg`.
fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// DOS date of 1980-01-01, the fixed timestamp of every entry.
const DOS_DATE: u16 = (1 << 5) | 1;

/// One finished entry, remembered for the central directory.
struct Entry {
    name: &'static str,
    crc: u32,
    compressed: u32,
    uncompressed: u32,
    offset: u32,
}

/// A minimal streaming ZIP writer: deflated entries, local headers patched after each entry.
struct ZipWriter<'w, W: Write + Seek> {
    w: &'w mut W,
    start: u64,
    entries: Vec<Entry>,
}

/// A `u32` ZIP field from `v`, or an error since ZIP64 is not written.
fn zip32(v: u64, what: &str) -> io::Result<u32> {
    u32::try_from(v).map_err(|_| {
        io::Error::other(format!(
            "3MF package too large: {what} is {v} bytes, over the 4 GiB ZIP limit (no ZIP64)"
        ))
    })
}

impl<'w, W: Write + Seek> ZipWriter<'w, W> {
    /// Starts a package at the current position of `w`.
    fn new(w: &'w mut W) -> io::Result<Self> {
        let start = w.stream_position()?;
        Ok(Self {
            w,
            start,
            entries: Vec::new(),
        })
    }

    /// Offset of the next byte relative to the start of the package.
    fn pos(&mut self) -> io::Result<u64> {
        Ok(self.w.stream_position()?.saturating_sub(self.start))
    }

    /// Adds the deflated entry `name` made of `pieces`: rendered and deflated in parallel,
    /// a few at a time, and written in order as they finish.
    fn part(&mut self, name: &'static str, pieces: &[Piece]) -> io::Result<()> {
        use rayon::prelude::*;
        let offset = self.pos()?;
        let offset32 = zip32(offset, "an entry offset")?;
        self.local_header(name, 0, 0, 0)?;
        let mut crc = crc32fast::Hasher::new();
        let (mut total_in, mut total_out) = (0u64, 0u64);
        // Enough pieces in flight to keep every thread busy, few enough to bound memory.
        let batch = 2 * rayon::current_num_threads().max(1);
        let n = pieces.len();
        for (b, group) in pieces.chunks(batch).enumerate() {
            let done: Vec<io::Result<(Vec<u8>, crc32fast::Hasher, u64)>> = group
                .par_iter()
                .enumerate()
                .map(|(k, p)| deflate_piece(p, b * batch + k + 1 == n))
                .collect();
            for d in done {
                let (bytes, c, len) = d?;
                self.w.write_all(&bytes)?;
                crc.combine(&c);
                total_in += len;
                total_out += bytes.len() as u64;
            }
        }
        if n == 0 {
            // An empty part still needs a final block.
            let (bytes, _, _) = deflate_piece(&Piece::Text(String::new()), true)?;
            self.w.write_all(&bytes)?;
            total_out += bytes.len() as u64;
        }
        let crc = crc.finalize();
        let uncompressed = zip32(total_in, name)?;
        let compressed = zip32(total_out, name)?;
        let end = self.w.stream_position()?;
        self.w.seek(SeekFrom::Start(self.start + offset))?;
        self.local_header(name, crc, compressed, uncompressed)?;
        self.w.seek(SeekFrom::Start(end))?;
        self.entries.push(Entry {
            name,
            crc,
            compressed,
            uncompressed,
            offset: offset32,
        });
        Ok(())
    }

    /// Writes a local file header.
    fn local_header(&mut self, name: &str, crc: u32, csize: u32, usize_: u32) -> io::Result<()> {
        let mut h = Vec::with_capacity(30 + name.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0 (deflate)
        h.extend_from_slice(&0u16.to_le_bytes()); // flags
        h.extend_from_slice(&8u16.to_le_bytes()); // method: deflate
        h.extend_from_slice(&0u16.to_le_bytes()); // time 00:00:00
        h.extend_from_slice(&DOS_DATE.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&csize.to_le_bytes());
        h.extend_from_slice(&usize_.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // extra length
        h.extend_from_slice(name.as_bytes());
        self.w.write_all(&h)
    }

    /// Writes the central directory and its end record.
    fn finish(mut self) -> io::Result<()> {
        let cd_start = self.pos()?;
        let mut cd = Vec::new();
        for e in &self.entries {
            cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            cd.extend_from_slice(&20u16.to_le_bytes()); // made by: 2.0, MS-DOS attributes
            cd.extend_from_slice(&20u16.to_le_bytes()); // version needed
            cd.extend_from_slice(&0u16.to_le_bytes()); // flags
            cd.extend_from_slice(&8u16.to_le_bytes()); // deflate
            cd.extend_from_slice(&0u16.to_le_bytes());
            cd.extend_from_slice(&DOS_DATE.to_le_bytes());
            cd.extend_from_slice(&e.crc.to_le_bytes());
            cd.extend_from_slice(&e.compressed.to_le_bytes());
            cd.extend_from_slice(&e.uncompressed.to_le_bytes());
            cd.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&[0; 8]); // extra, comment, disk number, internal attributes
            cd.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            cd.extend_from_slice(&e.offset.to_le_bytes());
            cd.extend_from_slice(e.name.as_bytes());
        }
        let count = self.entries.len() as u16;
        let cd_size = zip32(cd.len() as u64, "the central directory")?;
        let cd_offset = zip32(cd_start, "the central directory offset")?;
        cd.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        cd.extend_from_slice(&[0; 4]); // disk numbers
        cd.extend_from_slice(&count.to_le_bytes());
        cd.extend_from_slice(&count.to_le_bytes());
        cd.extend_from_slice(&cd_size.to_le_bytes());
        cd.extend_from_slice(&cd_offset.to_le_bytes());
        cd.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.w.write_all(&cd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads every entry of a ZIP made by this module (stored sizes, deflate) by name.
    fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        // The reader checks every local header, size and CRC against the directory.
        crate::export::threemf_read::zip_parts(bytes).unwrap()
    }

    fn tetra() -> (Vec<[f64; 3]>, Vec<[u32; 3]>) {
        (
            vec![
                [0.0, 0.0, 0.0],
                [10.0, 0.0, 0.0],
                [0.0, 10.0, 0.0],
                [0.0, 0.0, 10.5],
            ],
            vec![[0, 2, 1], [0, 1, 3], [1, 2, 3], [0, 3, 2]],
        )
    }

    #[test]
    fn numbers_are_written_shortest_round_trip_in_display_form() {
        let mut f = Numbers::default();
        let mut x: u32 = 0x9e37_79b9;
        let mut values = vec![
            0.0f32, -0.0, 1.0, -1.0, 0.5, 100.0, 1e-7, 1e-30, 3.0e38, 16777216.0,
        ];
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let v = f32::from_bits(x);
            if v.is_finite() {
                values.push(v);
                values.push((v as f64 % 1000.0) as f32);
                values.push((x % 100_000) as f32 / 8.0);
            }
        }
        for v in values {
            let mut s = String::new();
            f.float(&mut s, v);
            let display = format!("{v}");
            assert_eq!(
                s.parse::<f32>().map(f32::to_bits),
                Ok(v.to_bits()),
                "{s} {display}"
            );
            assert_eq!(s.len(), display.len(), "{s} {display}");
            assert!(!s.contains(['e', 'E']), "{s}");
        }
        assert_eq!(f.int.format(4_294_967_295u32), "4294967295");
    }

    #[test]
    fn package_has_the_three_parts_and_a_valid_model() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.3mf");
        let (v, t) = tetra();
        let objects = [
            Object {
                name: "skull & <mandible>",
                vertices: &v,
                triangles: &t,
            },
            Object {
                name: "second",
                vertices: &v,
                triangles: &t[..3],
            },
        ];
        let meta = [
            ("Application", "Hounsfield 0.1"),
            ("Title", "Patient \"X\""),
            ("hf:CoordinateFrame", "DICOM LPS, millimetres"),
            ("hf:SourceSeriesUID", "1.2.3.4"),
        ];
        write(&p, &objects, &meta).unwrap();
        let parts = unzip(&std::fs::read(&p).unwrap());
        let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["[Content_Types].xml", "_rels/.rels", "3D/3dmodel.model"]
        );
        let model = String::from_utf8(parts[2].1.clone()).unwrap();
        assert!(model.contains("unit=\"millimeter\""));
        assert!(model.contains("xml:lang=\"en-US\""));
        assert!(model.contains(&format!("xmlns=\"{CORE_NAMESPACE}\"")));
        assert!(model.contains(&format!("xmlns:hf=\"{HF_NAMESPACE}\"")));
        assert!(model.contains("name=\"skull &amp; &lt;mandible&gt;\""));
        assert!(model.contains("<metadata name=\"Title\">Patient \"X\"</metadata>"));
        assert!(
            model.contains(
                "<metadata name=\"hf:CoordinateFrame\">DICOM LPS, millimetres</metadata>"
            )
        );
        assert!(model.contains("<vertex x=\"0\" y=\"0\" z=\"10.5\"/>"));
        assert!(model.contains("<triangle v1=\"0\" v2=\"2\" v3=\"1\"/>"));
        assert_eq!(model.matches("<vertex ").count(), 8);
        assert_eq!(model.matches("<triangle ").count(), 7);
        assert!(
            model.contains("<item objectid=\"1\"/>") && model.contains("<item objectid=\"2\"/>")
        );
    }

    #[test]
    fn large_model_streams_through_many_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("grid.3mf");
        let n = 300u32;
        let v: Vec<[f64; 3]> = (0..n * n)
            .map(|i| {
                [
                    f64::from(i % n) * 0.7 - 100.0,
                    f64::from(i / n) * 0.7,
                    -1000.25,
                ]
            })
            .collect();
        let t: Vec<[u32; 3]> = (0..(n - 1) * (n - 1))
            .flat_map(|q| {
                let (r, c) = (q / (n - 1), q % (n - 1));
                let a = r * n + c;
                [[a, a + 1, a + n + 1], [a, a + n + 1, a + n]]
            })
            .collect();
        write(
            &p,
            &[Object {
                name: "grid",
                vertices: &v,
                triangles: &t,
            }],
            &[],
        )
        .unwrap();
        // The pieces are fixed by the input: the same bytes on one thread.
        let one = dir.path().join("one.3mf");
        crate::mesh::test_meshes::with_threads(1, || {
            write(
                &one,
                &[Object {
                    name: "grid",
                    vertices: &v,
                    triangles: &t,
                }],
                &[],
            )
        })
        .unwrap();
        assert_eq!(std::fs::read(&one).unwrap(), std::fs::read(&p).unwrap());
        let parts = unzip(&std::fs::read(&p).unwrap());
        assert!(t.len() > PIECE_ITEMS, "more than one piece of triangles");
        let model = String::from_utf8(parts[2].1.clone()).unwrap();
        assert_eq!(model.matches("<vertex ").count(), v.len());
        assert_eq!(model.matches("<triangle ").count(), t.len());
        let last = t[t.len() - 1];
        assert!(model.contains(&format!(
            "<triangle v1=\"{}\" v2=\"{}\" v3=\"{}\"/>\n    </triangles>",
            last[0], last[1], last[2]
        )));
        assert!(model.ends_with("</build>\n</model>\n"));
    }

    #[test]
    fn output_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (v, t) = tetra();
        let o = [Object {
            name: "a",
            vertices: &v,
            triangles: &t,
        }];
        write(&dir.path().join("1.3mf"), &o, &[]).unwrap();
        write(&dir.path().join("2.3mf"), &o, &[]).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("1.3mf")).unwrap(),
            std::fs::read(dir.path().join("2.3mf")).unwrap()
        );
    }

    #[test]
    fn bad_input_is_rejected_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.3mf");
        let (v, mut t) = tetra();
        let ok = |t: &[[u32; 3]]| {
            write(
                &p,
                &[Object {
                    name: "a",
                    vertices: &v,
                    triangles: t,
                }],
                &[],
            )
        };
        t[2] = [1, 2, 4];
        let e = ok(&t).unwrap_err();
        assert!(
            e.to_string().contains("triangle 2 refers to vertex 4"),
            "{e}"
        );
        t[2] = [1, 1, 3];
        let e = ok(&t).unwrap_err();
        assert!(e.to_string().contains("triangle 2 repeats"), "{e}");
        let o = [Object {
            name: "a",
            vertices: &v,
            triangles: &t[..1],
        }];
        for bad in ["Custom", "xx:Custom", "hf:", "hf:1a", "hf:a b"] {
            let e = write(&p, &o, &[(bad, "v")]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        assert!(write(&p, &o, &[("Title", "a"), ("Title", "b")]).is_err());
        let nan = [[f64::NAN, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let e = write(
            &p,
            &[Object {
                name: "n",
                vertices: &nan,
                triangles: &[[0, 1, 2]],
            }],
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("vertex 0"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn escape_handles_markup_and_control_characters() {
        assert_eq!(escape_text("a<b>&\"'"), "a&lt;b&gt;&amp;\"'");
        assert_eq!(escape_text("x\r\ny\rz\t\u{1}"), "x\ny\nz\t\u{FFFD}");
        assert_eq!(escape_attr("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;'");
        assert_eq!(escape_attr("x\ny\t\u{1}"), "x y \u{FFFD}");
    }
}
