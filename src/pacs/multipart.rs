//! `multipart/related` bodies (RFC 2387), as DICOMweb sends instances (WADO-RS) and takes
//! them (STOW-RS).

use memchr::memmem;

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The part's Content-Type, when it has one.
    pub content_type: Option<String>,
    /// The part's bytes.
    pub body: Vec<u8>,
}

/// The `boundary` parameter of a multipart Content-Type header.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// Splits a multipart body into its parts.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let finder = memmem::Finder::new(delimiter.as_bytes());
    let mut starts: Vec<usize> = finder.find_iter(body).collect();
    if starts.is_empty() {
        return Err(format!("no part delimited by `{delimiter}`"));
    }
    // A delimiter only counts at the start of the body or of a line.
    starts.retain(|&s| s == 0 || body[..s].ends_with(b"\r\n") || body[..s].ends_with(b"\n"));
    let mut parts = Vec::new();
    for w in starts.windows(2) {
        let (from, to) = (w[0] + delimiter.len(), w[1]);
        let chunk = &body[from..to];
        if chunk.starts_with(b"--") {
            break;
        }
        let chunk = chunk
            .strip_prefix(b"\r\n")
            .or_else(|| chunk.strip_prefix(b"\n"))
            .ok_or("a part delimiter is not followed by a line break")?;
        let (head_end, sep) = match memmem::find(chunk, b"\r\n\r\n") {
            Some(i) => (i, 4),
            None => (
                memmem::find(chunk, b"\n\n").ok_or("a part has no end of headers")?,
                2,
            ),
        };
        let headers = String::from_utf8_lossy(&chunk[..head_end]);
        let content_type = headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        });
        let mut data = &chunk[head_end + sep..];
        data = data
            .strip_suffix(b"\r\n")
            .or_else(|| data.strip_suffix(b"\n"))
            .unwrap_or(data);
        parts.push(Part {
            content_type,
            body: data.to_vec(),
        });
    }
    let last = starts[starts.len() - 1] + delimiter.len();
    if !body[last..].starts_with(b"--") {
        return Err("the body ends before its closing delimiter (truncated?)".into());
    }
    Ok(parts)
}

/// A multipart body of `parts`, each of `content_type`, with a boundary none of them holds.
pub fn build(parts: &[&[u8]], content_type: &str) -> (Vec<u8>, String) {
    let mut seed = [0u8; 16];
    let boundary = loop {
        let _ = getrandom::fill(&mut seed);
        let b: String = seed.iter().map(|x| format!("{x:02x}")).collect();
        let b = format!("hounsfield-{b}");
        if parts
            .iter()
            .all(|p| memmem::find(p, b.as_bytes()).is_none())
        {
            break b;
        }
    };
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 128).sum());
    for p in parts {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: {content_type}\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (out, boundary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_even_when_they_hold_line_breaks_and_dashes() {
        let a: &[u8] = b"DICM\r\n--not-the-boundary\r\n\x00\x01";
        let b: &[u8] = b"\r\n\r\nsecond";
        let (body, bd) = build(&[a, b], "application/dicom");
        let ct = format!("multipart/related; type=\"application/dicom\"; boundary=\"{bd}\"");
        assert_eq!(boundary(&ct).unwrap(), bd);
        let parts = parse(&body, &bd).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body, a);
        assert_eq!(parts[1].body, b);
        assert_eq!(parts[0].content_type.as_deref(), Some("application/dicom"));
    }

    #[test]
    fn a_truncated_body_is_an_error_not_a_short_file() {
        let (body, bd) = build(&[b"0123456789"], "application/dicom");
        let cut = &body[..body.len() - 10];
        assert!(parse(cut, &bd).unwrap_err().contains("truncated"));
        assert!(parse(b"nothing here", &bd).is_err());
    }
}
