//! Rust port of `c/coremark.c`, bit for bit: same seed, same data layout (an index-linked list,
//! `NIL` = 0xFF), same operation order, same wrapping. Any change to the C file must be mirrored
//! here; the execution tests compare the two.

const LIST_LEN: usize = 32;
const NIL: u8 = 0xFF;
const MAT_N: usize = 12;
const SEED: u32 = 0x4B45_454C; // "KEEL"
const TEXT_INIT: &[u8] =
    b"5012,1.25,-190,+3.14e-5,0x1F,abc,7e2,.5,-0.001,42,9E+9,--1,3.,e5,1e,88,6.02E23,-.7";
const ALPHABET: &[u8] = b"0123456789+-.eE,x";

/// Number-recogniser states, in the C enum's order (the order fixes the CRC input).
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Sign,
    Int,
    Frac,
    ExpMark,
    ExpSign,
    ExpDigits,
    Invalid,
}
const STATE_COUNT: usize = 8;

#[derive(Clone, Copy, Default)]
struct Node {
    value: u16,
    id: u16,
    next: u8,
}

struct Workload {
    nodes: [Node; LIST_LEN],
    head: u8,
    mat_a: [[i16; MAT_N]; MAT_N],
    mat_b: [[i16; MAT_N]; MAT_N],
    text: [u8; TEXT_INIT.len()],
}

/// `coremark` entry of [`crate::COREMARK`]: the CRC-16 after `iterations` rounds. The contract
/// returns it as 2 bytes LE. 0 iterations give 0. Cost is linear in `iterations`.
pub fn expected_coremark(iterations: u32) -> u16 {
    let mut w = Workload::new();
    let mut crc = 0;
    for k in 0..iterations {
        crc = w.list_step(k, crc);
        crc = w.matrix_step(k, crc);
        crc = w.text_step(k, crc);
    }
    crc
}

/// CRC-16/ARC (reflected polynomial 0xA001, initial 0, no final xor) over `bytes`, continuing
/// from `crc`. The contract feeds its values to it least-significant byte first.
pub fn crc16_arc(bytes: &[u8], crc: u16) -> u16 {
    bytes.iter().fold(crc, |crc, &b| crc_u8(b, crc))
}

fn crc_u8(mut data: u8, mut crc: u16) -> u16 {
    for _ in 0..8 {
        let mix = (crc ^ u16::from(data)) & 1;
        crc >>= 1;
        data >>= 1;
        if mix != 0 {
            crc ^= 0xA001;
        }
    }
    crc
}

fn crc_u16(v: u16, crc: u16) -> u16 {
    crc16_arc(&v.to_le_bytes(), crc)
}

fn crc_u32(v: u32, crc: u16) -> u16 {
    crc16_arc(&v.to_le_bytes(), crc)
}

fn lcg(s: &mut u32) -> u32 {
    *s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
    *s >> 16
}

/// Maps 8 random bits to [-128, 127] as the C code does.
fn small(bits: u32) -> i16 {
    ((bits & 0xFF) as i16) - 128
}

impl Workload {
    fn new() -> Self {
        let mut s = SEED;
        let mut nodes = [Node::default(); LIST_LEN];
        for (i, node) in nodes.iter_mut().enumerate() {
            node.value = lcg(&mut s) as u16;
            node.id = i as u16;
            node.next = if i + 1 < LIST_LEN { (i + 1) as u8 } else { NIL };
        }
        let mut mat_a = [[0; MAT_N]; MAT_N];
        let mut mat_b = [[0; MAT_N]; MAT_N];
        for i in 0..MAT_N {
            for j in 0..MAT_N {
                mat_a[i][j] = small(lcg(&mut s));
                mat_b[i][j] = small(lcg(&mut s));
            }
        }
        let mut text = [0; TEXT_INIT.len()];
        text.copy_from_slice(TEXT_INIT);
        Self {
            nodes,
            head: 0,
            mat_a,
            mat_b,
            text,
        }
    }

    fn node(&mut self, i: u8) -> &mut Node {
        &mut self.nodes[usize::from(i)]
    }

    fn find_move_front(&mut self, key: u16) -> u16 {
        let mut prev = NIL;
        let mut pos: u16 = 0;
        let mut n = self.head;
        while n != NIL {
            if self.node(n).value & 0x0F == key {
                if prev != NIL {
                    self.node(prev).next = self.node(n).next;
                    let head = self.head;
                    self.node(n).next = head;
                    self.head = n;
                }
                return (pos << 8) | self.node(n).id;
            }
            prev = n;
            n = self.node(n).next;
            pos += 1;
        }
        0xFFFF
    }

    fn reverse(&mut self) {
        let mut prev = NIL;
        let mut n = self.head;
        while n != NIL {
            let next = self.node(n).next;
            self.node(n).next = prev;
            prev = n;
            n = next;
        }
        self.head = prev;
    }

    fn sort_by_value(&mut self) {
        let mut width = 1u32;
        loop {
            let mut p = self.head;
            let mut tail = NIL;
            let mut merges = 0u32;
            self.head = NIL;
            while p != NIL {
                merges += 1;
                let mut q = p;
                let mut psize = 0u32;
                while psize < width && q != NIL {
                    psize += 1;
                    q = self.node(q).next;
                }
                let mut qsize = width;
                while psize > 0 || (qsize > 0 && q != NIL) {
                    let take_p = psize > 0
                        && (qsize == 0 || q == NIL || self.node(p).value <= self.node(q).value);
                    let e = if take_p {
                        let e = p;
                        p = self.node(p).next;
                        psize -= 1;
                        e
                    } else {
                        let e = q;
                        q = self.node(q).next;
                        qsize -= 1;
                        e
                    };
                    if tail != NIL {
                        self.node(tail).next = e;
                    } else {
                        self.head = e;
                    }
                    tail = e;
                }
                p = q;
            }
            if tail != NIL {
                self.node(tail).next = NIL;
            }
            if merges <= 1 {
                return;
            }
            width = width.wrapping_mul(2);
        }
    }

    fn list_step(&mut self, k: u32, mut crc: u16) -> u16 {
        for j in 0..4u32 {
            let key = (k.wrapping_mul(7).wrapping_add(j * 61) & 0x0F) as u16;
            crc = crc_u16(self.find_move_front(key), crc);
        }
        self.reverse();
        self.sort_by_value();
        let mut pos: u16 = 0;
        let mut n = self.head;
        while n != NIL {
            let node = self.node(n);
            crc = crc_u16(node.value ^ node.id, crc);
            node.value = node
                .value
                .wrapping_mul(25173)
                .wrapping_add(13849)
                .wrapping_add(pos);
            n = node.next;
            pos += 1;
        }
        crc
    }

    fn matrix_step(&mut self, k: u32, mut crc: u16) -> u16 {
        let add = (k & 0x7F) as i32;
        for row in &mut self.mat_a {
            for a in row {
                *a = (((i32::from(*a) + add + 128) & 0xFF) - 128) as i16;
            }
        }
        let mut mat_c = [[0u32; MAT_N]; MAT_N];
        let (mut sum, mut bits) = (0u32, 0u32);
        for (a_row, c_row) in self.mat_a.iter().zip(&mut mat_c) {
            for (j, c) in c_row.iter_mut().enumerate() {
                let mut acc = i32::from(a_row[j]) as u32;
                for (&a, b_row) in a_row.iter().zip(&self.mat_b) {
                    let product = i32::from(a) * i32::from(b_row[j]);
                    acc = acc.wrapping_add(product as u32);
                }
                *c = acc;
                sum = sum.wrapping_add(acc);
                bits = bits.wrapping_add((acc >> 3) & 0x0F);
            }
        }
        crc = crc_u32(sum, crc);
        crc = crc_u16(bits as u16, crc);
        for (i, row) in mat_c.iter().enumerate() {
            for (j, &c) in row.iter().enumerate() {
                self.mat_b[j][i] = small(c >> 7);
            }
        }
        crc
    }

    fn text_step(&mut self, k: u32, mut crc: u16) -> u16 {
        let len = self.text.len() as u32;
        let at = (k.wrapping_mul(17).wrapping_add(5) % len) as usize;
        let pick = k.wrapping_add(u32::from(self.text[at])) % ALPHABET.len() as u32;
        self.text[at] = ALPHABET[pick as usize];
        let mut counts = [0u16; STATE_COUNT];
        let mut transitions = 0u32;
        let mut state = State::Start;
        for &c in &self.text {
            if c == b',' {
                counts[state as usize] = counts[state as usize].wrapping_add(1);
                state = State::Start;
                continue;
            }
            let next = next_state(state, c);
            if next != state {
                transitions += 1;
            }
            state = next;
        }
        counts[state as usize] = counts[state as usize].wrapping_add(1);
        for count in counts {
            crc = crc_u16(count, crc);
        }
        crc_u32(transitions, crc)
    }
}

fn next_state(state: State, c: u8) -> State {
    let digit = c.is_ascii_digit();
    let sign = c == b'+' || c == b'-';
    let exp = c == b'e' || c == b'E';
    match state {
        State::Start if digit => State::Int,
        State::Start if sign => State::Sign,
        State::Start if c == b'.' => State::Frac,
        State::Sign if digit => State::Int,
        State::Sign if c == b'.' => State::Frac,
        State::Int if digit => State::Int,
        State::Int if c == b'.' => State::Frac,
        State::Int if exp => State::ExpMark,
        State::Frac if digit => State::Frac,
        State::Frac if exp => State::ExpMark,
        State::ExpMark if digit => State::ExpDigits,
        State::ExpMark if sign => State::ExpSign,
        State::ExpSign | State::ExpDigits if digit => State::ExpDigits,
        _ => State::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_arc_matches_the_standard_check_value() {
        assert_eq!(crc16_arc(b"123456789", 0), 0xBB3D);
    }

    #[test]
    fn zero_iterations_give_zero() {
        assert_eq!(expected_coremark(0), 0);
    }

    #[test]
    fn more_iterations_change_the_result() {
        let results: Vec<u16> = (1..6).map(expected_coremark).collect();
        let mut distinct = results.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), results.len(), "{results:?}");
    }

    #[test]
    fn sort_leaves_values_ascending_and_keeps_every_node() {
        let mut w = Workload::new();
        w.reverse();
        w.sort_by_value();
        let mut seen = Vec::new();
        let mut n = w.head;
        while n != NIL {
            seen.push(*w.node(n));
            n = w.node(n).next;
        }
        assert_eq!(seen.len(), LIST_LEN);
        assert!(seen.windows(2).all(|p| p[0].value <= p[1].value));
        let mut ids: Vec<u16> = seen.iter().map(|n| n.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..LIST_LEN as u16).collect::<Vec<_>>());
    }

    #[test]
    fn recogniser_classifies_number_shapes() {
        let run = |s: &[u8]| s.iter().fold(State::Start, |st, &c| next_state(st, c));
        assert!(run(b"5012") == State::Int);
        assert!(run(b"-0.001") == State::Frac);
        assert!(run(b"6.02E23") == State::ExpDigits);
        assert!(run(b"1e") == State::ExpMark);
        assert!(run(b"+3.14e-") == State::ExpSign);
        assert!(run(b"0x1F") == State::Invalid);
    }
}
