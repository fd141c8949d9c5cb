//! How the sandbox treats a syscall outside a thread's allowlist.

use std::str::FromStr;

/// `--sandbox=enforce|kill|log|off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The syscall fails with `EPERM` and does nothing. The request that caused it fails; the
    /// daemon and every other client go on. For operators who prefer a refusal to a restart.
    Enforce,
    /// The default: the whole daemon dies with SIGSYS (`SECCOMP_RET_KILL_PROCESS`) and the
    /// service manager restarts it. A process that tried a syscall outside its allowlist is
    /// treated as compromised, and no attempt goes unnoticed.
    #[default]
    Kill,
    /// The syscall runs and the kernel logs it (`SECCOMP_RET_LOG`, audit type 1326); the
    /// daemon counts its own records. For finding syscalls missing from an allowlist.
    Log,
    /// No seccomp filter and no Landlock (credentials are still dropped when root). For
    /// debugging only: warned about at start and on /metrics.
    Off,
}

impl Mode {
    /// `"enforce"`, `"kill"`, `"log"` or `"off"`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Kill => "kill",
            Mode::Log => "log",
            Mode::Off => "off",
        }
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "enforce" => Ok(Mode::Enforce),
            "kill" => Ok(Mode::Kill),
            "log" => Ok(Mode::Log),
            "off" => Ok(Mode::Off),
            other => Err(format!(
                "unknown sandbox mode {other:?} (enforce, kill, log or off)"
            )),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_mode_parses_from_its_name_and_others_are_refused() {
        for m in [Mode::Enforce, Mode::Kill, Mode::Log, Mode::Off] {
            assert_eq!(m.name().parse::<Mode>().unwrap(), m);
        }
        assert!("permissive".parse::<Mode>().is_err());
        assert_eq!(Mode::default(), Mode::Kill);
    }
}
