//! `keel-plugin-host PLUGIN.so`: the plug-in host process on its own (the `keel` binary has the
//! same as `keel hwtest plugin-host`). Speaks the frames of `keel_hwtest::plugin::wire` on
//! stdin/stdout. Exit 0 when stdin closes, 1 when the plug-in cannot be used, 2 on bad usage.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: keel-plugin-host PLUGIN.so");
        return ExitCode::from(2);
    };
    let (mut stdin, mut stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
    match keel_hwtest::plugin::host::serve(std::path::Path::new(&path), &mut stdin, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel-plugin-host: {e}");
            ExitCode::from(1)
        }
    }
}
