use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Pump(args)) => loadgen::pump::run(args.listen, args.threads),
        Some(Command::Summarize(args)) => loadgen::summarize::parse_scenarios(&args.scenarios)
            .and_then(|s| loadgen::summarize::summarize(&args.files, &s, args.targets))
            .map(|md| print!("{md}")),
        Some(Command::Chart(args)) => loadgen::summarize::parse_scenarios(&args.scenarios)
            .and_then(|s| loadgen::chart::chart(&args.files, &s, &args.out)),
        None => cli.run.into_config().and_then(|cfg| {
            let json = cfg.json.clone();
            let report = loadgen::run::run(cfg)?;
            print!("{}", report.table());
            if let Some(path) = json {
                std::fs::write(&path, report.to_json() + "\n")
                    .map_err(|e| anyhow::anyhow!("writing {path}: {e}"))?;
            }
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
