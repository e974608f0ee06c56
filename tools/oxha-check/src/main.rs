fn main() {
    // A bug prints one line (never a message formatted from input: it could quote a key) and
    // exits "could not check", not "warnings".
    std::panic::set_hook(Box::new(|info| {
        let line = ocf_lib::panic_guard::panic_line(
            info.location().map(|l| (l.file(), l.line(), l.column())),
            info.payload(),
        );
        ocf_lib::output::diagnostic(&format!("oxha-check: {line}"));
        std::process::exit(oxha_check::CANNOT_CHECK);
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(oxha_check::main_with(&args))
}
