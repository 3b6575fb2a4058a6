//! What the scenarios' fairness checks compute.

/// Pearson's chi-square of independence of a table's rows and columns.
pub fn chi_square<const R: usize, const C: usize>(table: &[[f64; C]; R]) -> f64 {
    let total: f64 = table.iter().flatten().sum();
    if total == 0.0 {
        return 0.0;
    }
    let rows: Vec<f64> = table.iter().map(|r| r.iter().sum()).collect();
    let cols: Vec<f64> = (0..C).map(|c| table.iter().map(|r| r[c]).sum()).collect();
    let mut chi = 0.0;
    for r in 0..R {
        for c in 0..C {
            let expected = rows[r] * cols[c] / total;
            if expected > 0.0 {
                chi += (table[r][c] - expected).powi(2) / expected;
            }
        }
    }
    chi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi_square_sees_a_skew() {
        assert!(chi_square(&[[50.0, 50.0], [50.0, 50.0]]) < 0.01);
        assert!(chi_square(&[[90.0, 10.0], [10.0, 90.0]]) > 100.0);
        assert_eq!(chi_square(&[[0.0; 3]; 2]), 0.0);
    }
}
