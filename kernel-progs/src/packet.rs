//! Crafted Ethernet frames for `BPF_PROG_TEST_RUN` (benchmark and verdict tests). Checksums
//! are left zero: the programs never read them.

use std::net::IpAddr;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
pub(crate) const IPPROTO_TCP: u8 = 6;
#[cfg(test)]
pub(crate) const IPPROTO_UDP: u8 = 17;
const TCP_SYN: u8 = 0x02;

/// A frame from `src` to `dst` (same family, else `None`) carrying a minimal TCP SYN (or UDP
/// header when `proto` is UDP) to `dport`.
pub(crate) fn frame(src: IpAddr, dst: IpAddr, proto: u8, dport: u16) -> Option<Vec<u8>> {
    let l4 = l4_header(proto, dport);
    let mut f = Vec::with_capacity(14 + 40 + l4.len());
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&ETH_P_IP.to_be_bytes());
            let total = u16::try_from(20 + l4.len()).ok()?;
            f.extend_from_slice(&[0x45, 0]);
            f.extend_from_slice(&total.to_be_bytes());
            f.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]); // id, DF, ttl, proto, csum
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
            let payload = u16::try_from(l4.len()).ok()?;
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&payload.to_be_bytes());
            f.extend_from_slice(&[proto, 64]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => return None,
    }
    f.extend_from_slice(&l4);
    Some(f)
}

fn l4_header(proto: u8, dport: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(20);
    h.extend_from_slice(&40000u16.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    if proto == IPPROTO_TCP {
        h.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]); // seq, ack
        h.extend_from_slice(&[0x50, TCP_SYN, 0xff, 0xff, 0, 0, 0, 0]); // doff 5, SYN, win
    } else {
        h.extend_from_slice(&[0, 8, 0, 0]); // length, checksum
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_header_lengths_of_their_family() {
        let v4 = frame(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            IPPROTO_TCP,
            7000,
        )
        .unwrap();
        assert_eq!(v4.len(), 14 + 20 + 20);
        assert_eq!(&v4[14 + 20 + 2..14 + 20 + 4], &7000u16.to_be_bytes());
        let v6 = frame(
            "fd00::1".parse().unwrap(),
            "fd00::2".parse().unwrap(),
            IPPROTO_UDP,
            53,
        )
        .unwrap();
        assert_eq!(v6.len(), 14 + 40 + 8);
        assert!(
            frame(
                "10.0.0.1".parse().unwrap(),
                "::1".parse().unwrap(),
                IPPROTO_TCP,
                1
            )
            .is_none()
        );
    }
}
