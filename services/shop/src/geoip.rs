//! The country of a client address, from Debian's `geoip-database`
//! (`/usr/share/GeoIP/GeoIP.dat` and `GeoIPv6.dat`, MaxMind's legacy
//! country format): a binary tree over the address bits whose leaves are
//! country indexes. The files are read whole at start; a lookup walks at
//! most 32 (IPv4) or 128 (IPv6) nodes.

use std::net::IpAddr;
use std::path::Path;

use ticktak_core::Country;

/// Leaves start here (the country edition's segment).
const COUNTRY_BEGIN: u32 = 16_776_960;
const RECORD: usize = 3;

/// The legacy format's country table, by index.
const CODES: &[&str] = &[
    "--", "AP", "EU", "AD", "AE", "AF", "AG", "AI", "AL", "AM", "CW", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BM", "BN", "BO", "BR", "BS", "BT", "BV", "BW", "BY", "BZ",
    "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "SX",
    "GA", "GB", "GD", "GE", "GF", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IN", "IO", "IQ", "IR", "IS", "IT", "JM", "JO", "JP", "KE", "KG",
    "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV",
    "LY", "MA", "MC", "MD", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW",
    "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF",
    "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RU", "RW", "SA", "SB", "SC",
    "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "ST", "SV", "SY", "SZ", "TC", "TD", "TF",
    "TG", "TH", "TJ", "TK", "TM", "TN", "TO", "TL", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ",
    "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "RS", "ZA", "ZM", "ME", "ZW", "A1", "A2", "O1",
    "AX", "GG", "IM", "JE", "BL", "MF", "BQ", "SS", "O1",
];

/// Where Debian's `geoip-database` puts its files.
pub const DEFAULT_DIR: &str = "/usr/share/GeoIP";

#[derive(Debug, Default)]
pub struct GeoIp {
    v4: Option<Vec<u8>>,
    v6: Option<Vec<u8>>,
}

impl GeoIp {
    /// The databases in `dir` (`GeoIP.dat`, `GeoIPv6.dat`); a missing one
    /// answers nothing for its family.
    pub fn open(dir: &Path) -> Self {
        let read = |name: &str| std::fs::read(dir.join(name)).ok().filter(|b| b.len() >= 2 * RECORD);
        let geo = Self { v4: read("GeoIP.dat"), v6: read("GeoIPv6.dat") };
        if geo.v4.is_none() {
            tracing::warn!(dir = %dir.display(), "no GeoIP country data: anonymous buyers get popular matches");
        }
        geo
    }

    pub fn is_loaded(&self) -> bool {
        self.v4.is_some()
    }

    /// The country `ip` is registered in; `None` for private, reserved or
    /// unknown addresses.
    pub fn country(&self, ip: IpAddr) -> Option<Country> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let index = match ip {
            IpAddr::V4(v4) => walk(self.v4.as_deref()?, u128::from(u32::from(v4)), 32)?,
            IpAddr::V6(v6) => walk(self.v6.as_deref()?, u128::from(v6), 128)?,
        };
        let code = CODES.get(index)?;
        Country::new(code).ok()
    }
}

fn walk(db: &[u8], address: u128, bits: u32) -> Option<usize> {
    let mut node: usize = 0;
    for depth in (0..bits).rev() {
        let base = node.checked_mul(2 * RECORD)?;
        let side = if (address >> depth) & 1 == 1 { RECORD } else { 0 };
        let b = db.get(base + side..base + side + RECORD)?;
        let next = u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
        if next >= COUNTRY_BEGIN {
            return Some((next - COUNTRY_BEGIN) as usize);
        }
        node = next as usize;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_resolve_to_the_countries_they_are_registered_in() {
        // `make test` installs Debian's geoip-database.
        let geo = GeoIp::open(Path::new(DEFAULT_DIR));
        assert!(geo.is_loaded(), "install geoip-database (the scripts do)");
        let c = |ip: &str| geo.country(ip.parse().unwrap()).map(|c| c.to_string());
        assert_eq!(c("200.45.0.1").as_deref(), Some("AR"));
        assert_eq!(c("8.8.8.8").as_deref(), Some("US"));
        assert_eq!(c("193.0.6.139").as_deref(), Some("NL"));
        assert_eq!(c("41.0.0.1").as_deref(), Some("ZA"));
        assert_eq!(c("1.1.1.1").as_deref(), Some("AU"));
        assert_eq!(c("::ffff:200.45.0.1").as_deref(), Some("AR"));
        assert_eq!(c("2001:4860:4860::8888").as_deref(), Some("US"));
        assert_eq!(c("127.0.0.1"), None);
        assert_eq!(c("10.1.2.3"), None);
    }

    #[test]
    fn a_missing_or_truncated_database_answers_nothing() {
        let geo = GeoIp::open(Path::new("/nonexistent"));
        assert_eq!(geo.country("200.45.0.1".parse().unwrap()), None);
        assert_eq!(walk(&[1, 0, 0, 0, 0, 0], 1, 32), None, "a pointer past the end");
    }
}
