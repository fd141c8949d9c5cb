// The fleet tests' tools: the package built by cargo-deb from the binary under test, repacked
// variants of it, a two-host inventory of root prefixes on this machine, and ansible runs.
#![allow(dead_code)] // each test uses a subset

pub mod hosts;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Workspace root (the repository).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("appliance/ has a parent")
        .to_path_buf()
}

pub fn ansible_dir() -> PathBuf {
    repo().join("ansible")
}

/// Runs `cmd`, failing the test with its output when it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The first missing tool among `tools` (looked up on PATH), if any.
pub fn missing_tool(tools: &[&str]) -> Option<String> {
    tools
        .iter()
        .find(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|t| (*t).to_owned())
}

/// Whether `cargo deb` is installed.
pub fn have_cargo_deb() -> bool {
    Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn is_root() -> bool {
    run(Command::new("id").arg("-u")).stdout == b"0\n"
}

/// `./x package`'s cargo-deb, without building: the package holds the `keel` binary under test
/// (the cargo profile whose directory holds it), so no test builds the workspace again.
pub fn build_package(out_dir: &Path) -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_keel"));
    let profile_dir = exe.parent().expect("the binary is in a profile directory");
    let target_dir = profile_dir.parent().expect("profile dir has a parent");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => panic!("unexpected binary path {}", exe.display()),
    };
    let out = run(Command::new("cargo")
        .current_dir(repo())
        .env("CARGO_TARGET_DIR", target_dir)
        .args([
            "deb",
            "-p",
            "keel",
            "--no-build",
            "--fast",
            "--profile",
            &profile,
        ])
        .arg("--output")
        .arg(out_dir));
    assert!(out.status.success(), "cargo deb failed:\n{}", text(&out));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let deb = PathBuf::from(path.lines().last().expect("cargo deb prints the .deb path"));
    assert!(deb.exists(), "{}", deb.display());
    deb
}

/// What a repacked package's daemon does.
#[derive(Clone, Copy, PartialEq)]
pub enum Variant {
    /// The same binary under a new version: an upgrade that works.
    Same,
    /// `keel serve` exits 1 at once (every other command is the real one, so the health check
    /// itself works): an upgrade that must fail its health gate.
    DaemonFails,
}

/// Repacks `deb` as `version` (`dpkg-deb -R` / `-b`), optionally with a failing daemon.
pub fn repack(deb: &Path, dir: &Path, version: &str, variant: Variant) -> PathBuf {
    let tree = dir.join(format!("tree-{version}"));
    let ok = |c: &mut Command| assert!(run(c).status.success(), "{c:?}");
    ok(Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree));
    let control = tree.join("DEBIAN/control");
    let text = std::fs::read_to_string(&control).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("Version:") {
                format!("Version: {version}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&control, text).unwrap();
    if variant == Variant::DaemonFails {
        let bin = tree.join("usr/bin/keel");
        std::fs::create_dir_all(tree.join("usr/lib/keel")).unwrap();
        std::fs::rename(&bin, tree.join("usr/lib/keel/keel-real")).unwrap();
        std::fs::write(
            &bin,
            "#!/bin/sh\ncase \"$1\" in serve) echo 'keel: this build cannot start' >&2; exit 1;; esac\n\
             exec \"$(dirname \"$0\")/../lib/keel/keel-real\" \"$@\"\n",
        )
        .unwrap();
        ok(Command::new("chmod").arg("755").arg(&bin));
    }
    let out = dir.join(format!("keel_{version}_amd64.deb"));
    ok(Command::new("dpkg-deb")
        .args(["-Zgzip", "-z1", "-b"])
        .arg(&tree)
        .arg(&out));
    std::fs::remove_dir_all(&tree).unwrap();
    out
}

/// Debian version recorded in a package.
pub fn deb_version(deb: &Path) -> String {
    let out = run(Command::new("dpkg-deb").arg("-f").arg(deb).arg("Version"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Lowercase hex SHA-256 of a file.
pub fn sha256(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("sha256sum prints the digest")
        .to_owned()
}

/// A free loopback TCP port (probed while held with the others, so none coincide).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// `ansible-playbook PLAYBOOK -i INVENTORY EXTRA...` from ansible/, its temporary files in `tmp`.
pub fn playbook(tmp: &Path, inventory: &Path, playbook: &str, extra: &[String]) -> Output {
    let mut cmd = Command::new("ansible-playbook");
    cmd.current_dir(ansible_dir())
        .env("ANSIBLE_CONFIG", ansible_dir().join("ansible.cfg"))
        .env("ANSIBLE_LOCAL_TEMP", tmp.join("ansible-local"))
        .env("ANSIBLE_REMOTE_TEMP", tmp.join("ansible-remote"))
        .env("ANSIBLE_NOCOLOR", "1")
        .arg("-i")
        .arg(inventory)
        .arg(playbook);
    for e in extra {
        cmd.arg("-e").arg(e);
    }
    run(&mut cmd)
}

/// The PLAY RECAP counters of `host` (`ok=…`, `changed=…`, …), if the host appears there.
pub fn recap(out: &Output, host: &str) -> Option<Vec<(String, u64)>> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let recap = stdout.rsplit("PLAY RECAP").next()?;
    let line = recap
        .lines()
        .find(|l| l.split_whitespace().next() == Some(host))?;
    Some(
        line.split_whitespace()
            .filter_map(|w| w.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect(),
    )
}

/// One counter of `host`'s recap line.
pub fn recap_count(out: &Output, host: &str, key: &str) -> u64 {
    recap(out, host)
        .unwrap_or_else(|| panic!("{host} is not in the recap:\n{}", text(out)))
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key} for {host}"))
}
