fn main() -> std::process::ExitCode {
    ticktak_kit::service::main(ticktak_kit::Service::Web, web::start)
}
