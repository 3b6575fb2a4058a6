//! ticktak-solve: solves a proof-of-work challenge for `curl` users (the
//! web client solves it in the browser). Reads the JSON of
//! `GET /api/challenge` on standard input and prints the value of the
//! `X-Challenge-Solution` header:
//!
//! ```sh
//! SOLUTION=$(curl -s 127.0.0.1:3020/api/challenge | ticktak-solve)
//! curl -H "X-Challenge-Solution: $SOLUTION" …
//! ```

use std::io::Read as _;
use std::process::ExitCode;

use ticktak_kit::challenge::{self, Challenge};

fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("ticktak-solve: cannot read standard input: {e}");
        return ExitCode::from(2);
    }
    let puzzle: Challenge = match serde_json::from_str(&input) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ticktak-solve: not a challenge (the JSON of GET /api/challenge): {e}");
            return ExitCode::from(2);
        }
    };
    match challenge::solve(&puzzle) {
        Some(number) => {
            println!("{}", challenge::header_value(&puzzle, number));
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("ticktak-solve: no number up to {} solves it", puzzle.maxnumber);
            ExitCode::FAILURE
        }
    }
}
