//! Who holds a listening address: the kernel's socket tables (`/proc/net/tcp`, `tcp6`) and the
//! process descriptor tables (`/proc/<pid>/fd`). Used to refuse sharing a port with another
//! process through SO_REUSEPORT, and to wait out a killed daemon's sockets that its io_uring
//! still holds while the kernel tears the ring down.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Inodes of the TCP sockets listening on `addr`'s port at an address that overlaps `addr`
/// (the same address, or either side a wildcard), in this network namespace.
pub(crate) fn listening_inodes(addr: SocketAddr) -> Vec<u64> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        out.extend(text.lines().skip(1).filter_map(|line| {
            let entry = parse_line(line)?;
            (entry.listening && overlaps(entry.local, addr)).then_some(entry.inode)
        }));
    }
    out
}

/// The process whose descriptor table holds the socket with this inode, if any is visible
/// (another user's processes are not, without privileges).
pub(crate) fn socket_owner(inode: u64) -> Option<u32> {
    let wanted = format!("socket:[{inode}]");
    let procs = std::fs::read_dir("/proc").ok()?;
    procs.flatten().find_map(|p| {
        let pid: u32 = p.file_name().to_str()?.parse().ok()?;
        let fds = std::fs::read_dir(p.path().join("fd")).ok()?;
        fds.flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == wanted.as_str()))
            .then_some(pid)
    })
}

/// The live process listening on TCP `port` (any address), where it can be seen.
pub fn port_owner(port: u16) -> Option<u32> {
    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    listening_inodes(any)
        .into_iter()
        .filter_map(socket_owner)
        .find(|pid| process_is_alive(*pid))
}

/// Whether process `pid` exists and is not exiting. A killed process whose io_uring is being
/// torn down is a zombie leader (`Z`) while its sockets and locks are still held.
pub fn process_is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) S …`: the state follows the last ')' (comm may contain anything).
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, None | Some('Z' | 'X' | 'x')) && !sigkill_pending(pid)
}

/// Whether `pid` has a SIGKILL pending: it is dying (still "running" for the few milliseconds
/// its exit takes, its descriptors and locks not yet released) and will never serve again.
fn sigkill_pending(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    const SIGKILL_BIT: u64 = 1 << (libc::SIGKILL - 1);
    status
        .lines()
        .filter_map(|l| {
            l.strip_prefix("ShdPnd:")
                .or_else(|| l.strip_prefix("SigPnd:"))
        })
        .filter_map(|v| u64::from_str_radix(v.trim(), 16).ok())
        .any(|bits| bits & SIGKILL_BIT != 0)
}

/// The inode of an open socket descriptor.
pub(crate) fn inode_of(fd: &impl std::os::fd::AsRawFd) -> Option<u64> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    std::fs::metadata(Path::new(&path)).ok().map(|m| m.ino())
}

struct Entry {
    local: SocketAddr,
    listening: bool,
    inode: u64,
}

/// One row of `/proc/net/tcp{,6}`: `sl local rem st tx:rx tr:when retr uid timeout inode …`.
fn parse_line(line: &str) -> Option<Entry> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (ip, port) = fields.get(1)?.split_once(':')?;
    let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
    let inode = fields.get(9)?.parse().ok()?;
    Some(Entry {
        local: SocketAddr::new(parse_ip(ip)?, u16::from_str_radix(port, 16).ok()?),
        listening: state == TCP_LISTEN,
        inode,
    })
}

const TCP_LISTEN: u8 = 0x0A;

/// The kernel prints each 32-bit word of the address as a native-endian integer.
fn parse_ip(hex: &str) -> Option<IpAddr> {
    let words = (0..hex.len() / 8)
        .map(|i| {
            let w = hex.get(i * 8..i * 8 + 8)?;
            u32::from_str_radix(w, 16).ok().map(u32::to_ne_bytes)
        })
        .collect::<Option<Vec<[u8; 4]>>>()?;
    match words.as_slice() {
        [a] => Some(IpAddr::V4(Ipv4Addr::from(*a))),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (chunk, w) in bytes.chunks_mut(4).zip([a, b, c, d]) {
                chunk.copy_from_slice(w);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let (ia, ib) = (canonical(a.ip()), canonical(b.ip()));
    a.port() == b.port() && (ia == ib || ia.is_unspecified() || ib.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_listening_socket_is_found_with_its_owner() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let inode = inode_of(&l).unwrap();
        assert_eq!(listening_inodes(addr), vec![inode]);
        assert_eq!(socket_owner(inode), Some(std::process::id()));
        drop(l);
        assert!(listening_inodes(addr).is_empty());
    }

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        assert!(process_is_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_is_alive(pid));
    }

    #[test]
    fn wildcard_and_mapped_addresses_overlap_but_other_ports_do_not() {
        let a: SocketAddr = "127.0.0.1:7411".parse().unwrap();
        assert!(overlaps(a, "0.0.0.0:7411".parse().unwrap()));
        assert!(overlaps(a, "[::ffff:127.0.0.1]:7411".parse().unwrap()));
        assert!(overlaps(a, "[::]:7411".parse().unwrap()));
        assert!(!overlaps(a, "127.0.0.2:7411".parse().unwrap()));
        assert!(!overlaps(a, "127.0.0.1:7412".parse().unwrap()));
    }

    #[test]
    fn proc_rows_parse_for_both_families() {
        let v4 = format!(
            "   0: {}:1CF3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1",
            hex_word([127, 0, 0, 1])
        );
        let e = parse_line(&v4).unwrap();
        assert_eq!(e.local, "127.0.0.1:7411".parse::<SocketAddr>().unwrap());
        assert!(e.listening);
        assert_eq!(e.inode, 4242);
        let v6 = format!(
            "   0: {}{}{}{}:1CF3 00000000000000000000000000000000:0000 01 0:0 0:0 0 0 0 7 1",
            hex_word([0; 4]),
            hex_word([0; 4]),
            hex_word([0; 4]),
            hex_word([0, 0, 0, 1])
        );
        let e = parse_line(&v6).unwrap();
        assert_eq!(e.local, "[::1]:7411".parse::<SocketAddr>().unwrap());
        assert!(!e.listening);
        assert!(parse_line("garbage").is_none());
    }

    fn hex_word(bytes: [u8; 4]) -> String {
        format!("{:08X}", u32::from_ne_bytes(bytes))
    }
}
