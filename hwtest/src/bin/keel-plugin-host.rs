//! `keel-plugin-host [--sandbox MODE [--user NAME]] PLUGIN.so`: the plug-in host process on its
//! own (the `keel` binary has the same as `keel hwtest plugin-host`). Speaks the frames of
//! `keel_hwtest::plugin::wire` on stdin/stdout. With `--sandbox` (kill, enforce, log or off)
//! it confines itself as the daemon's BLS threads are before and after loading the plug-in.
//! Exit 0 when stdin closes, 1 when the plug-in cannot be used, 2 on bad usage.

use keel_sandbox::{HelperSandbox, Mode};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: keel-plugin-host [--sandbox MODE [--user NAME]] PLUGIN.so";

fn parse(
    mut args: impl Iterator<Item = OsString>,
) -> Result<(PathBuf, Option<HelperSandbox>), String> {
    let (mut mode, mut user, mut plugin) = (None::<Mode>, None::<String>, None::<PathBuf>);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--sandbox") => {
                let v = args.next().ok_or(USAGE)?;
                mode = Some(v.to_str().ok_or(USAGE)?.parse()?);
            }
            Some("--user") => {
                user = Some(args.next().ok_or(USAGE)?.to_str().ok_or(USAGE)?.to_string());
            }
            _ if plugin.is_none() => plugin = Some(a.into()),
            _ => return Err(USAGE.into()),
        }
    }
    let plugin = plugin.ok_or(USAGE)?;
    let sandbox = match (mode, user) {
        (Some(m), u) => Some(HelperSandbox::from_args(m, u.as_deref()).map_err(|e| e.to_string())?),
        (None, Some(_)) => return Err(format!("--user needs --sandbox; {USAGE}")),
        (None, None) => None,
    };
    Ok((plugin, sandbox))
}

fn main() -> ExitCode {
    let (path, sandbox) = match parse(std::env::args_os().skip(1)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("keel-plugin-host: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut stdin, mut stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
    match keel_hwtest::plugin::host::serve(&path, sandbox.as_ref(), &mut stdin, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel-plugin-host: {e}");
            ExitCode::from(1)
        }
    }
}
