//! Number formatting for the Markdown table and charts.

/// Human-sized number: thousands separators from 1000 up, no decimals from
/// 100, one decimal from 10, two below; `-` for NaN/infinite.
pub fn fmt_number(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 999.5 {
        let digits = format!("{:.0}", a);
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if a >= 99.95 {
        format!("{v:.0}")
    } else if a >= 9.995 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Cores with two decimals, `-` when unknown.
pub fn fmt_cores(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |c| format!("{c:.2}"))
}

/// Bytes as KiB / MiB / GiB with one decimal, `-` when unknown.
pub fn fmt_bytes(v: Option<u64>) -> String {
    let Some(b) = v else { return "-".into() };
    let b = b as f64;
    let (n, unit) = if b >= 1024.0 * 1024.0 * 1024.0 {
        (b / (1024.0 * 1024.0 * 1024.0), "GiB")
    } else if b >= 1024.0 * 1024.0 {
        (b / (1024.0 * 1024.0), "MiB")
    } else if b >= 1024.0 {
        (b / 1024.0, "KiB")
    } else {
        return format!("{b:.0} B");
    };
    format!("{n:.1} {unit}")
}

/// A file-name-safe form of a case name: lowercase ASCII letters and digits,
/// other runs of characters turned into one `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(fmt_number(1_234_567.4), "1,234,567");
        assert_eq!(fmt_number(-12_345.0), "-12,345");
        assert_eq!(fmt_number(999.6), "1,000");
        assert_eq!(fmt_number(412.4), "412");
        assert_eq!(fmt_number(41.26), "41.3");
        assert_eq!(fmt_number(4.126), "4.13");
        assert_eq!(fmt_number(99.96), "100");
        assert_eq!(fmt_number(9.996), "10.0");
        assert_eq!(fmt_number(f64::NAN), "-");
        assert_eq!(fmt_cores(Some(1.0)), "1.00");
        assert_eq!(fmt_cores(None), "-");
        assert_eq!(fmt_bytes(Some(512)), "512 B");
        assert_eq!(fmt_bytes(Some(3 * 1024 * 1024 + 512 * 1024)), "3.5 MiB");
        assert_eq!(fmt_bytes(None), "-");
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("HTTP keep-alive (32 conns)"), "http-keep-alive-32-conns");
        assert_eq!(slug("tcp/pingpong spin"), "tcp-pingpong-spin");
    }
}
