//! QR codes of ticket codes, as SVG (web pages) and PNG (e-mail
//! attachments, printing).

use qrcode::{EcLevel, QrCode};

/// Pixels per QR module in the PNG, and the quiet zone in modules.
const SCALE: usize = 8;
const QUIET: usize = 4;

fn qr(code: &str) -> QrCode {
    // Medium error correction survives a scuffed print or a cracked screen.
    QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M).expect("a ticket code fits in a QR code")
}

/// The QR code of `code` as an SVG document.
pub fn svg(code: &str) -> String {
    qr(code).render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).quiet_zone(true).build()
}

/// The QR code of `code` as a greyscale PNG.
pub fn png(code: &str) -> Vec<u8> {
    let qr = qr(code);
    let width = qr.width();
    let modules = qr.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in modules.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (i % width + QUIET, i / width + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("writing to memory cannot fail");
    writer.write_image_data(&pixels).expect("the buffer has the declared size");
    drop(writer);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_renderings_are_well_formed() {
        let code = "TT1.AAAAAAAAAAAAAAAAAAAAAAAA.".to_string() + &"B".repeat(86);
        assert!(svg(&code).starts_with("<?xml"));
        let png = png(&code);
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!(info.width, info.height);
        assert_eq!(info.width as usize % SCALE, 0);
    }
}
