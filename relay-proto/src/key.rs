//! Public keys as they appear on the wire.

use super::KEY_LEN;

/// A node's public key exactly as received (compressed Edwards y).
pub type NodeKey = [u8; KEY_LEN];

/// Maps keyed by node key. foldhash is seeded per process, so clients
/// cannot choose keys that collide, and it is several times cheaper than
/// SipHash on 32-byte keys.
pub type KeyMap<V> = std::collections::HashMap<NodeKey, V, foldhash::fast::RandomState>;
/// Sets of node keys, hashed like [`KeyMap`].
pub type KeySet = std::collections::HashSet<NodeKey, foldhash::fast::RandomState>;

/// Whether 32 bytes decompress to an ed25519 point, as the 0.35 protocol
/// requires of every key field. Costs a point decompression (~4 us).
pub fn is_valid_point(key: &NodeKey) -> bool {
    iroh_base::PublicKey::from_bytes(key).is_ok()
}

/// Reads a 32-byte key from the start of `buf`; `None` if too short.
pub fn read_key(buf: &[u8]) -> Option<&NodeKey> {
    buf.get(..KEY_LEN)?.try_into().ok()
}

/// Short printable form for logs.
pub fn short_hex(key: &NodeKey) -> String {
    key[..5].iter().map(|b| format!("{b:02x}")).collect()
}
