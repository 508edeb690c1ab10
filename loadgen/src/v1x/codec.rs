//! 1.x frames on the client side of a websocket: incoming messages are
//! split into varint type and payload, outgoing ones are masked messages
//! (datagrams, Pongs, Pings, the ClientAuth).

use relay_proto::key::NodeKey;
use relay_proto::v1x::{client, frame};
use relay_proto::ws::{self, Progress, Role, WsDecoder, WsItem};

use crate::codec::Drained;

/// One 1.x connection's framing state.
#[derive(Debug)]
pub struct Codec {
    dec: WsDecoder,
    pub enc: Masker,
}

/// Writes masked client messages.
#[derive(Debug)]
pub struct Masker {
    mask: u64,
}

impl Masker {
    /// xorshift: masks only need to vary, not be secret, on loopback.
    fn next_mask(&mut self) -> [u8; 4] {
        self.mask ^= self.mask << 13;
        self.mask ^= self.mask >> 7;
        self.mask ^= self.mask << 17;
        (self.mask as u32).to_le_bytes()
    }

    /// Appends one masked message of `len` bytes written by `body`.
    fn message(&mut self, out: &mut Vec<u8>, len: usize, body: impl FnOnce(&mut Vec<u8>)) {
        let mask = self.next_mask();
        ws::write_header(out, len, Some(mask));
        let start = out.len();
        body(out);
        ws::apply_mask(&mut out[start..], mask);
    }

    /// A ClientToRelayDatagram to `dst`.
    pub fn datagram(&mut self, out: &mut Vec<u8>, dst: &NodeKey, contents: &[u8]) {
        self.message(out, client::datagram_len(contents.len()), |o| {
            client::write_datagram(o, dst, 0, contents)
        });
    }

    pub fn ping(&mut self, out: &mut Vec<u8>, data: &[u8; 8]) {
        self.message(out, 9, |o| client::write_ping(o, false, data));
    }

    pub fn pong(&mut self, out: &mut Vec<u8>, data: &[u8; 8]) {
        self.message(out, 9, |o| client::write_ping(o, true, data));
    }

    /// A message whose body is already built (the ClientAuth).
    pub fn raw(&mut self, out: &mut Vec<u8>, body: &[u8]) {
        self.message(out, body.len(), |o| o.extend_from_slice(body));
    }
}

impl Codec {
    pub fn new(seed: u64) -> Self {
        Self {
            dec: WsDecoder::new(Role::Client),
            enc: Masker { mask: seed | 1 },
        }
    }

    /// Calls `f(encoder, type, payload)` for every complete message at the
    /// start of `buf` (the encoder writes replies). `f` returns `false` to
    /// stop after that message.
    pub fn drain(
        &mut self,
        buf: &mut [u8],
        mut f: impl FnMut(&mut Masker, u64, &[u8]) -> bool,
    ) -> Result<Drained, String> {
        let mut d = Drained::default();
        loop {
            let start = d.consumed;
            let (item, used) = match self.dec.decode(&mut buf[start..]) {
                Ok(Progress::Need(_)) => break,
                Ok(Progress::Item { item, consumed }) => (item, consumed),
                Err(e) => return Err(format!("websocket: {e}")),
            };
            d.consumed += used;
            let keep_going = match item {
                WsItem::Binary(r) => {
                    let (ty, p) = split(&buf[start + r.start..start + r.end])?;
                    f(&mut self.enc, ty, p)
                }
                WsItem::Reassembled => {
                    let (ty, p) = split(self.dec.message())?;
                    let go = f(&mut self.enc, ty, p);
                    self.dec.clear_message();
                    go
                }
                // Text and websocket-level pings carry nothing for a relay client.
                WsItem::Ignored | WsItem::Ping(_) => true,
                WsItem::Close => {
                    d.closed = true;
                    break;
                }
            };
            if !keep_going {
                d.stopped = true;
                break;
            }
        }
        Ok(d)
    }
}

/// Type and payload of a message.
fn split(m: &[u8]) -> Result<(u64, &[u8]), String> {
    frame::split_message(m).map_err(|e| format!("frame: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_proto::v1x::frame::{decode_client, ClientFrame};

    /// Server-side view of what the client wrote: (type, payload) per message.
    fn server_reads(mut wire: Vec<u8>) -> Vec<(u64, Vec<u8>)> {
        let mut dec = WsDecoder::new(Role::Server);
        let mut out = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let Ok(Progress::Item { item, consumed }) = dec.decode(&mut wire[at..]) else {
                panic!("incomplete or unmasked message");
            };
            if let WsItem::Binary(r) = item {
                let (ty, p) = frame::split_message(&wire[at + r.start..at + r.end]).unwrap();
                out.push((ty, p.to_vec()));
            }
            at += consumed;
        }
        out
    }

    #[test]
    fn client_messages_are_masked_and_decode_on_the_server() {
        let mut c = Codec::new(7).enc;
        let mut out = Vec::new();
        c.datagram(&mut out, &[3; 32], b"payload");
        c.pong(&mut out, &[1; 8]);
        c.ping(&mut out, &[2; 8]);
        let got = server_reads(out);
        let ClientFrame::Datagram { dst, datagram } = decode_client(got[0].0, &got[0].1).unwrap()
        else {
            panic!("not a datagram")
        };
        assert_eq!((dst, datagram.contents), (&[3; 32], &b"payload"[..]));
        assert_eq!(
            decode_client(got[1].0, &got[1].1),
            Ok(ClientFrame::Pong([1; 8]))
        );
        assert_eq!(
            decode_client(got[2].0, &got[2].1),
            Ok(ClientFrame::Ping([2; 8]))
        );
    }

    #[test]
    fn drains_server_messages_partial_and_bad() {
        let mut wire = Vec::new();
        relay_proto::v1x::serve::encode(
            &mut wire,
            relay_proto::v1x::Version::V2,
            &relay_proto::ServerFrame::Ping([9; 8]),
        );
        let full = wire.len();
        wire.extend_from_slice(&[0x82, 5, 6]);
        let mut seen = Vec::new();
        let d = Codec::new(1)
            .drain(&mut wire, |_, t, p| {
                seen.push((t, p.to_vec()));
                true
            })
            .unwrap();
        assert_eq!(d.consumed, full);
        assert_eq!(seen, [(9, vec![9; 8])]);
        // An empty binary message is not a frame; a reserved bit is an error.
        assert!(Codec::new(1).drain(&mut [0x82, 0], |_, _, _| true).is_err());
        assert!(Codec::new(1)
            .drain(&mut [0xc2, 1, 9], |_, _, _| true)
            .is_err());
        // A Close ends the stream.
        let d = Codec::new(1).drain(&mut [0x88, 0], |_, _, _| true).unwrap();
        assert!(d.closed);
    }
}
