//! 8-bit PNG images of rendered views: greyscale files written atomically, RGB in memory.

use crate::io::atomic::write_atomic;
use std::io;
use std::path::Path;

/// Encodes `pixels` (`height × width`, row-major, `channels` bytes each) as PNG into `out`.
fn encode<W: io::Write>(
    out: W,
    width: usize,
    height: usize,
    color: png::ColorType,
    pixels: &[u8],
) -> io::Result<()> {
    let channels = match color {
        png::ColorType::Rgb => 3,
        _ => 1,
    };
    if pixels.len() != width * height * channels || width == 0 || height == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "image size does not match its pixels",
        ));
    }
    let (w, h) = (
        u32::try_from(width).map_err(io::Error::other)?,
        u32::try_from(height).map_err(io::Error::other)?,
    );
    let mut enc = png::Encoder::new(out, w, h);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().map_err(io::Error::other)?;
    wr.write_image_data(pixels).map_err(io::Error::other)?;
    wr.finish().map_err(io::Error::other)
}

/// Writes `pixels` (`height × width`, row-major) as a greyscale PNG.
pub fn write_png_gray(path: &Path, width: usize, height: usize, pixels: &[u8]) -> io::Result<()> {
    if pixels.len() != width * height || width == 0 || height == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "image size does not match its pixels",
        ));
    }
    write_atomic(path, |out| {
        encode(out, width, height, png::ColorType::Grayscale, pixels)
    })
}

/// Encodes 8-bit RGB pixels (row-major, 3 bytes each) as PNG bytes in memory.
pub fn encode_png_rgb(width: usize, height: usize, rgb: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    encode(&mut out, width, height, png::ColorType::Rgb, rgb)?;
    Ok(out)
}
