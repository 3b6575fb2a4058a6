fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        ticktak_kit::service::main(ticktak_kit::Service::Security, security::start)
    } else {
        security::cli::run(&args)
    }
}
