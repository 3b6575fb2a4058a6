fn main() -> std::process::ExitCode {
    ticktak_kit::service::main(ticktak_kit::Service::Payments, payments::start)
}
