//! Every complete relay frame at the start of a buffer, found by
//! relay-proto's [`FrameReader`] in either role: the one loop over it that
//! loadgen's clients (client role) and the pump (server role) share.

use relay_proto::reader::{FrameReader, Next, ReadError};

/// What one [`drain`] call got through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drained {
    /// Bytes at the start of the buffer that were fully used.
    pub consumed: usize,
    /// The peer sent a websocket Close.
    pub closed: bool,
    /// The callback asked to stop.
    pub stopped: bool,
}

/// Calls `f(type, payload)` for every complete frame at the start of
/// `buf` (websocket payloads are unmasked in place), until the bytes run
/// out, the peer closes, or `f` returns `false` after a frame.
pub fn drain(
    reader: &mut FrameReader,
    buf: &mut [u8],
    mut f: impl FnMut(u64, &[u8]) -> bool,
) -> Result<Drained, ReadError> {
    let mut d = Drained::default();
    loop {
        let at = d.consumed;
        let keep_going = match reader.next(&mut buf[at..])? {
            Next::Frame {
                ty,
                start,
                end,
                consumed,
            } => {
                d.consumed += consumed;
                f(ty, &buf[at + start..at + end])
            }
            Next::Message { consumed } => {
                d.consumed += consumed;
                let (ty, payload) = reader.message()?;
                let go = f(ty, payload);
                reader.clear_message();
                go
            }
            // Neither a relay nor its clients ping at the websocket level;
            // text and control frames carry nothing for them.
            Next::Skip { consumed } | Next::WsPing { consumed, .. } => {
                d.consumed += consumed;
                true
            }
            Next::Close => {
                d.closed = true;
                break;
            }
            Next::Need(_) => break,
        };
        if !keep_going {
            d.stopped = true;
            break;
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_proto::client_writer::ClientWriter;
    use relay_proto::ws::Role;
    use relay_proto::{Dialect, Transport};

    /// A Ping and a packet as a client writes them.
    fn client_bytes(d: Dialect) -> Vec<u8> {
        let mut w = ClientWriter::new(d, 42);
        let mut out = Vec::new();
        w.ping(&mut out, &[1; 8]);
        w.packet(&mut out, &[9; 32], b"abc");
        out
    }

    #[test]
    fn whole_frames_partial_ones_and_stop() {
        for d in Dialect::ALL {
            let buf = client_bytes(d);
            let mut got = Vec::new();
            let mut b = buf.clone();
            let r = drain(&mut FrameReader::server(d), &mut b, |t, p| {
                got.push((t, p.to_vec()));
                true
            });
            assert_eq!(r.map(|d| d.consumed), Ok(buf.len()), "{d}");
            assert_eq!(got.len(), 2, "{d}");
            assert_eq!(got[0].1, [1; 8], "{d}");
            // The last byte missing: only the Ping is used.
            let ping_len = {
                let mut o = Vec::new();
                ClientWriter::new(d, 42).ping(&mut o, &[1; 8]);
                o.len()
            };
            let mut part = buf[..buf.len() - 1].to_vec();
            let r = drain(&mut FrameReader::server(d), &mut part, |_, _| true);
            assert_eq!(r.map(|d| d.consumed), Ok(ping_len), "{d}");
            let mut b = buf.clone();
            let r = drain(&mut FrameReader::server(d), &mut b, |_, _| false);
            assert_eq!(
                r.map(|d| (d.stopped, d.consumed)),
                Ok((true, ping_len)),
                "{d}"
            );
        }
    }

    #[test]
    fn fragments_are_reassembled_and_close_ends() {
        // One unmasked binary message `[12][8 x 7]` in two fragments, a
        // websocket Ping between them (ignored), then a Close.
        let mut buf = vec![
            0x02, 4, 12, 7, 7, 7, 0x89, 0, 0x80, 5, 7, 7, 7, 7, 7, 0x88, 0,
        ];
        let mut got = Vec::new();
        let mut reader = FrameReader::new(Dialect::V035(Transport::Websocket), Role::Client);
        let d = drain(&mut reader, &mut buf, |t, p| {
            got.push((t, p.to_vec()));
            true
        });
        assert_eq!(got, [(12, vec![7; 8])]);
        assert_eq!(d.map(|d| (d.closed, d.consumed)), Ok((true, 15)));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut b = vec![99u8, 0, 0xff, 0, 0];
        let derp = Dialect::V035(Transport::Derp);
        assert!(
            drain(&mut FrameReader::new(derp, Role::Client), &mut b, |_, _| {
                true
            })
            .is_err()
        );
        // An empty binary message is not a frame.
        for d in Dialect::ALL.into_iter().filter(|d| d.is_websocket()) {
            let mut b = vec![0x82u8, 0];
            assert!(drain(&mut FrameReader::new(d, Role::Client), &mut b, |_, _| true).is_err());
        }
    }
}
