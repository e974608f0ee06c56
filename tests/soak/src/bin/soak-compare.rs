//! `soak-compare OXHA_REPORT CHARMS_REPORT`: two soak reports of the same schedule side by
//! side, as the Markdown table bench/soak/README.md shows.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b] = &args[..] else {
        eprintln!("usage: soak-compare REPORT REPORT");
        return ExitCode::from(2);
    };
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map_err(|e| format!("{path}: {e}"))
            .and_then(|t| oxha_soak::report::summary(&t).map_err(|e| format!("{path}: {e}")))
    };
    match (read(a), read(b)) {
        (Ok(a), Ok(b)) => {
            use std::io::Write as _;
            let text = oxha_soak::report::side_by_side(&a, &b);
            if std::io::stdout().write_all(text.as_bytes()).is_err() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("soak-compare: {e}");
            ExitCode::from(1)
        }
    }
}
