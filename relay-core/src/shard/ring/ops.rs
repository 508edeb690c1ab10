//! What each submission is, carried in its `user_data`: the connection's
//! slot, the slot's generation (so a completion for a freed and reused
//! slot is recognised) and the operation.

/// The operations the shard ring runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A multishot receive.
    Recv = 1,
    /// One send of the front of a client's outgoing buffers.
    Send = 2,
    /// A cancellation (its own completion carries nothing to act on).
    Cancel = 3,
    /// A one-shot receive into the client's own buffer, when the shared
    /// buffers ran out (so no client waits for buffers others hold).
    RecvOwn = 4,
}

/// `generation (24 bits) ‖ slot (32 bits) ‖ op (8 bits)`.
pub fn encode(slot: u32, generation: u32, op: Op) -> u64 {
    (u64::from(generation & 0xff_ffff) << 40) | (u64::from(slot) << 8) | op as u64
}

/// The slot, generation and operation of a completion; `None` for an
/// operation this ring never submits.
pub fn decode(user_data: u64) -> Option<(u32, u32, Op)> {
    let op = match user_data & 0xff {
        1 => Op::Recv,
        2 => Op::Send,
        3 => Op::Cancel,
        4 => Op::RecvOwn,
        _ => return None,
    };
    let slot = (user_data >> 8) as u32;
    let generation = (user_data >> 40) as u32;
    Some((slot, generation, op))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for (slot, generation, op) in [
            (0, 0, Op::Recv),
            (u32::MAX, 0xff_ffff, Op::Send),
            (7, 1, Op::Cancel),
            (8, 2, Op::RecvOwn),
        ] {
            assert_eq!(
                decode(encode(slot, generation, op)),
                Some((slot, generation, op))
            );
        }
        assert_eq!(decode(0), None);
        // Generations wrap within their 24 bits.
        assert_eq!(
            decode(encode(1, 0x100_0001, Op::Recv)),
            Some((1, 1, Op::Recv))
        );
    }
}
