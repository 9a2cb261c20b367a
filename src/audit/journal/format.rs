//! The journal's on-disk format: a magic line, then one binary entry per
//! acknowledged write, with key and node names interned and integers as
//! LEB128 varints (about 10 bytes a write instead of a 125-byte JSON line).
//!
//! Entries, each opening with a tag byte:
//! - `TAG_NODE id name`: names node `id` (once per master address);
//! - `TAG_KEY op round key`: names the key of `(op, round)` (once per key);
//! - `TAG_SWITCH id`: the following writes were acknowledged by node `id`;
//! - an op code (below `TAG_NODE`): one write, `at_ms` as a zigzag delta
//!   from the previous write, then `round`, `user`, zigzag `value`, `pos`.
//!
//! [`Encoder`] turns [`Ack`]s into entries; [`Decoder`] turns entries back
//! into the exact [`JournalRecord`]s the audit reads.

use super::{Ack, JournalNaming, JournalOp, JournalRecord};
use crate::kinds::LockKind;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::net::SocketAddr;

/// The first bytes of every journal file (the trailing digit is the version).
pub const MAGIC: &[u8] = b"grabstorm journal 1\n";

const TAG_NODE: u8 = 0xF0;
const TAG_KEY: u8 = 0xF1;
const TAG_SWITCH: u8 = 0xF2;
/// Op codes: red-packet grab, seckill sale, then three per lock kind.
const OP_CODES: u8 = 2 + 3 * LockKind::ALL.len() as u8;

/// Why a journal file cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(
        "not a grabstorm journal (it does not start with {:?})",
        String::from_utf8_lossy(MAGIC)
    )]
    BadMagic,
    #[error("cut short at byte {0}")]
    Truncated(u64),
    #[error("unknown entry tag {tag:#04x} at byte {at}")]
    UnknownTag { tag: u8, at: u64 },
    #[error("a write at byte {at} names node {id}, which is never defined before it")]
    UnknownNode { id: u64, at: u64 },
    #[error("a write at byte {at} has no key defined for {op} round {round}")]
    UnknownKey { op: String, round: u64, at: u64 },
    #[error("the write at byte {0} has a position beyond 32 bits")]
    BadPosition(u64),
    #[error("a name at byte {0} is not UTF-8")]
    BadName(u64),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn op_code(op: JournalOp) -> u8 {
    let lock = |k: LockKind| 2 + 3 * LockKind::ALL.iter().position(|x| *x == k).unwrap_or(0) as u8;
    match op {
        JournalOp::RedpacketGrab => 0,
        JournalOp::SeckillSale => 1,
        JournalOp::LockAcquired(k) => lock(k),
        JournalOp::LockReleased(k) => lock(k) + 1,
        JournalOp::ResourceWrite(k) => lock(k) + 2,
    }
}

fn op_of(code: u8) -> Option<JournalOp> {
    match code {
        0 => Some(JournalOp::RedpacketGrab),
        1 => Some(JournalOp::SeckillSale),
        c if c < OP_CODES => {
            let kind = LockKind::ALL[usize::from((c - 2) / 3)];
            Some(match (c - 2) % 3 {
                0 => JournalOp::LockAcquired(kind),
                1 => JournalOp::LockReleased(kind),
                _ => JournalOp::ResourceWrite(kind),
            })
        }
        _ => None,
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    put_varint(out, name.len() as u64);
    out.extend_from_slice(name.as_bytes());
}

/// Turns acks into entries, remembering which names it has written.
#[derive(Default)]
pub struct Encoder {
    nodes: HashMap<SocketAddr, u64>,
    keys: HashSet<(u8, u64)>,
    current_node: Option<u64>,
    last_at_ms: u64,
}

impl Encoder {
    /// Appends the entries of one acknowledged write to `out`: the names it
    /// uses the first time they appear, then the write itself.
    pub fn encode(&mut self, ack: &Ack, naming: &dyn JournalNaming, out: &mut Vec<u8>) {
        let next_id = self.nodes.len() as u64;
        let node = *self.nodes.entry(ack.master).or_insert_with(|| {
            out.push(TAG_NODE);
            put_varint(out, next_id);
            put_name(out, &naming.node(ack.master));
            next_id
        });
        if self.current_node != Some(node) {
            out.push(TAG_SWITCH);
            put_varint(out, node);
            self.current_node = Some(node);
        }
        let code = op_code(ack.op);
        if self.keys.insert((code, ack.round)) {
            out.push(TAG_KEY);
            out.push(code);
            put_varint(out, ack.round);
            put_name(out, &naming.key(ack.op, ack.round));
        }
        out.push(code);
        // Acks arrive nearly in time order: the delta is a byte or two.
        put_varint(out, zigzag(ack.at_ms.wrapping_sub(self.last_at_ms) as i64));
        self.last_at_ms = ack.at_ms;
        put_varint(out, ack.round);
        put_varint(out, ack.user);
        put_varint(out, zigzag(ack.value));
        put_varint(out, u64::from(ack.pos));
    }
}

/// Reads records back from a journal file's bytes.
pub struct Decoder<R> {
    input: R,
    /// Bytes consumed, for error messages.
    at: u64,
    nodes: HashMap<u64, String>,
    keys: HashMap<(u8, u64), String>,
    current_node: Option<u64>,
    last_at_ms: u64,
}

impl<R: BufRead> Decoder<R> {
    /// Checks the magic line; the records follow.
    pub fn new(mut input: R) -> Result<Self, FormatError> {
        let mut magic = vec![0; MAGIC.len()];
        if input.read_exact(&mut magic).is_err() || magic != MAGIC {
            return Err(FormatError::BadMagic);
        }
        Ok(Decoder {
            input,
            at: MAGIC.len() as u64,
            nodes: HashMap::new(),
            keys: HashMap::new(),
            current_node: None,
            last_at_ms: 0,
        })
    }

    /// The next record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<JournalRecord>, FormatError> {
        loop {
            let start = self.at;
            let Some(tag) = self.byte_or_end()? else {
                return Ok(None);
            };
            match tag {
                TAG_NODE => {
                    let id = self.varint()?;
                    let name = self.name()?;
                    self.nodes.insert(id, name);
                }
                TAG_KEY => {
                    let code = self.byte()?;
                    let round = self.varint()?;
                    let key = self.name()?;
                    self.keys.insert((code, round), key);
                }
                TAG_SWITCH => self.current_node = Some(self.varint()?),
                code => {
                    let op = op_of(code).ok_or(FormatError::UnknownTag { tag, at: start })?;
                    let at_ms = self
                        .last_at_ms
                        .wrapping_add(unzigzag(self.varint()?) as u64);
                    self.last_at_ms = at_ms;
                    let round = self.varint()?;
                    let user = self.varint()?;
                    let value = unzigzag(self.varint()?);
                    let pos = u32::try_from(self.varint()?)
                        .map_err(|_| FormatError::BadPosition(start))?;
                    let id = self.current_node.unwrap_or(u64::MAX);
                    let node = self
                        .nodes
                        .get(&id)
                        .ok_or(FormatError::UnknownNode { id, at: start })?;
                    let key =
                        self.keys
                            .get(&(code, round))
                            .ok_or_else(|| FormatError::UnknownKey {
                                op: op.name(),
                                round,
                                at: start,
                            })?;
                    return Ok(Some(JournalRecord {
                        at_ms,
                        op,
                        key: key.clone(),
                        round,
                        user,
                        value,
                        pos,
                        node: node.clone(),
                    }));
                }
            }
        }
    }

    fn byte_or_end(&mut self) -> Result<Option<u8>, FormatError> {
        let b = match self.input.fill_buf()?.first() {
            Some(b) => *b,
            None => return Ok(None),
        };
        self.input.consume(1);
        self.at += 1;
        Ok(Some(b))
    }

    fn byte(&mut self) -> Result<u8, FormatError> {
        self.byte_or_end()?.ok_or(FormatError::Truncated(self.at))
    }

    fn varint(&mut self) -> Result<u64, FormatError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(FormatError::Truncated(self.at))
    }

    fn name(&mut self) -> Result<String, FormatError> {
        let start = self.at;
        let len = self.varint()?;
        let mut bytes = vec![0; usize::try_from(len).map_err(|_| FormatError::BadName(start))?];
        self.input
            .read_exact(&mut bytes)
            .map_err(|_| FormatError::Truncated(self.at))?;
        self.at += len;
        String::from_utf8(bytes).map_err(|_| FormatError::BadName(start))
    }
}

impl<R: BufRead> Iterator for Decoder<R> {
    type Item = Result<JournalRecord, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names;

    impl JournalNaming for Names {
        fn key(&self, op: JournalOp, round: u64) -> String {
            format!("gs:{}:{round}", op.name())
        }
        fn node(&self, addr: SocketAddr) -> String {
            match addr.port() {
                6379 => "redis-1".into(),
                6380 => "rédis-2 ✓".into(),
                _ => addr.to_string(),
            }
        }
    }

    fn every_op() -> Vec<JournalOp> {
        let mut ops = vec![JournalOp::RedpacketGrab, JournalOp::SeckillSale];
        for k in LockKind::ALL {
            ops.extend([
                JournalOp::LockAcquired(k),
                JournalOp::LockReleased(k),
                JournalOp::ResourceWrite(k),
            ]);
        }
        ops
    }

    #[test]
    fn op_codes_round_trip_and_stay_below_the_tags() {
        for op in every_op() {
            assert!(op_code(op) < TAG_NODE);
            assert_eq!(op_of(op_code(op)), Some(op));
        }
        assert_eq!(every_op().len(), usize::from(OP_CODES));
    }

    #[test]
    fn every_record_reads_back_exactly() {
        let masters: [SocketAddr; 3] = [
            "127.0.0.1:6379".parse().unwrap(),
            "127.0.0.1:6380".parse().unwrap(),
            "[::1]:65535".parse().unwrap(),
        ];
        let extremes: [(u64, u64, u64, i64, u32); 5] = [
            (0, 0, 0, 0, 0),
            (u64::MAX, u64::MAX, u64::MAX, i64::MAX, u32::MAX),
            (1, 1, 1, i64::MIN, 1),
            // Time going backwards (acks from different grabbers).
            (0, 7, 100_000, -1, 3),
            (86_400_000, 1 << 40, 12_345, 99_999, 499),
        ];
        let mut acks = Vec::new();
        for (i, op) in every_op().into_iter().enumerate() {
            for (j, &(at_ms, round, user, value, pos)) in extremes.iter().enumerate() {
                acks.push(Ack {
                    at_ms,
                    op,
                    round,
                    user,
                    value,
                    pos,
                    master: masters[(i + j) % masters.len()],
                });
            }
        }
        let mut encoder = Encoder::default();
        let mut bytes = MAGIC.to_vec();
        for a in &acks {
            encoder.encode(a, &Names, &mut bytes);
        }
        let back: Vec<JournalRecord> = Decoder::new(&bytes[..])
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected: Vec<JournalRecord> = acks
            .iter()
            .map(|a| JournalRecord {
                at_ms: a.at_ms,
                op: a.op,
                key: Names.key(a.op, a.round),
                round: a.round,
                user: a.user,
                value: a.value,
                pos: a.pos,
                node: Names.node(a.master),
            })
            .collect();
        assert_eq!(back, expected);
        assert_eq!(back[2].node, "[::1]:65535");
    }

    #[test]
    fn a_typical_write_takes_about_ten_bytes() {
        let master: SocketAddr = "127.0.0.1:6379".parse().unwrap();
        let mut encoder = Encoder::default();
        let mut bytes = Vec::new();
        for i in 0..10_000u64 {
            let ack = Ack {
                at_ms: 5_000 + i / 10,
                op: JournalOp::RedpacketGrab,
                round: i / 100,
                user: 1_000 + i % 5_000,
                value: (i % 2_000) as i64,
                pos: (i % 100) as u32,
                master,
            };
            encoder.encode(&ack, &Names, &mut bytes);
        }
        assert!(bytes.len() <= 10_000 * 12, "{} bytes", bytes.len());
    }

    #[test]
    fn a_cut_or_foreign_file_is_refused_with_a_reason() {
        assert!(matches!(
            Decoder::new(&b"{\"at_ms\":1}\n"[..]),
            Err(FormatError::BadMagic)
        ));
        let mut bytes = MAGIC.to_vec();
        Encoder::default().encode(
            &Ack {
                at_ms: 1,
                op: JournalOp::SeckillSale,
                round: 1,
                user: 300,
                value: 300,
                pos: 0,
                master: "127.0.0.1:6379".parse().unwrap(),
            },
            &Names,
            &mut bytes,
        );
        bytes.pop();
        let err = Decoder::new(&bytes[..]).unwrap().next_record().unwrap_err();
        assert!(matches!(err, FormatError::Truncated(_)), "{err}");
    }
}
