//! `recharge`: see `recharge --help`. Errors end in one line on standard error and a non-zero exit.

use std::process::ExitCode;

use clap::Parser;
use server::config::LogFormat;

/// Stack for each of the runtime's threads: rendering a page recurses through its view tree, which an
/// unoptimised build needs several megabytes for (the memory is reserved, and used only as it is
/// touched).
const THREAD_STACK: usize = 8 << 20;

fn main() -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(THREAD_STACK).build() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let cli = server::config::Cli::parse();
    // Files this process creates (the database, its journal, the simulated stations' memory) are the
    // operator's alone.
    // SAFETY: umask only sets the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        // Colours only on a terminal: a log written to a file or a pipe stays plain text.
        LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        // One JSON object per line: the event's fields, the current span's (the request's id, client,
        // method and path) and the list of spans it is in.
        LogFormat::Json => logs.json().with_current_span(true).with_span_list(false).init(),
    }
    match server::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            match e.downcast_ref::<db::DbError>() {
                // EX_TEMPFAIL: the database server did not answer; a supervisor may start it again later.
                Some(db::DbError::Unreachable(_)) => ExitCode::from(75),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// The error and its causes on one line: "cannot listen on 127.0.0.1:3000: Address already in use".
fn one_line(e: &anyhow::Error) -> String {
    e.chain().map(|c| c.to_string().replace('\n', " ")).collect::<Vec<_>>().join(": ")
}
