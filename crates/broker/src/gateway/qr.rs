//! BOLT 11 invoices as QR codes (SVG markup the page inserts; no images).

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The invoice as an SVG QR code, or `None` if it is too long for one.
/// Upper case: BOLT 11 is case-insensitive and QR's alphanumeric mode
/// takes upper-case text in 5.5 bits a character instead of 8, so the code
/// is smaller and scans better.
pub(super) fn invoice_svg(payment_request: &str) -> Option<String> {
    let text = format!("LIGHTNING:{}", payment_request.to_ascii_uppercase());
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_invoice_renders_as_svg() {
        let svg = super::invoice_svg(&format!("lnbcrt10u1{}", "q".repeat(300))).expect("fits");
        assert!(
            svg.starts_with("<?xml") || svg.starts_with("<svg"),
            "{svg:.40}"
        );
        assert!(svg.contains("<path") || svg.contains("<rect"));
    }
}
