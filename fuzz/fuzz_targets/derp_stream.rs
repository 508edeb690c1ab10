//! The 0.35 `iroh derp http` stream: 5-byte headers, then each frame's
//! payload rules, with frames cut across reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relay_fuzz::proto::reader::{FrameReader, Step};
use relay_fuzz::proto::{frame, stream, v035, Dialect, Transport, HEADER_LEN, MAX_FRAME_SIZE};
use relay_fuzz::reads;

fuzz_target!(|data: &[u8]| {
    let dialect = Dialect::V035(Transport::Derp);
    let mut reader = FrameReader::server(dialect);
    let mut buf = Vec::new();
    'reads: for read in reads(data) {
        buf.extend_from_slice(read);
        loop {
            let len = buf.len();
            let step = reader.next_with(&mut buf, |ty, payload| {
                let ty = u8::try_from(ty).expect("stream types are one byte");
                check_frame(ty, payload);
                payload.len()
            });
            match step {
                Ok(Step::Frame { out, consumed }) => {
                    assert_eq!(consumed, HEADER_LEN + out);
                    assert!(consumed <= len);
                    buf.drain(..consumed);
                }
                Ok(Step::Need(n)) => {
                    assert!(n > len && n <= HEADER_LEN + MAX_FRAME_SIZE);
                    assert_eq!(stream::next_frame(&buf), Ok(None));
                    break;
                }
                Ok(other) => panic!("stream framing gave {other:?}"),
                Err(_) => {
                    assert!(stream::parse_header(&buf).is_err());
                    break 'reads;
                }
            }
        }
    }
});

/// A frame that decodes encodes back to the same bytes, and the server's
/// reading of it agrees with the decoder.
fn check_frame(ty: u8, payload: &[u8]) {
    let decoded = frame::decode(ty, payload);
    let served = v035::serve::on_frame(ty, payload);
    match decoded {
        Ok(f) => {
            assert_eq!(f.frame_type() as u8, ty);
            assert_eq!(f.payload_len(), payload.len());
            let mut out = Vec::new();
            stream::encode(&mut out, &f);
            assert_eq!(&out[..1], &[ty]);
            assert_eq!(&out[HEADER_LEN..], payload);
        }
        Err(_) => assert!(served.is_err()),
    }
}
