//! Helpers shared by the benchmarks: a minimal blocking 0.35 client over a
//! plain `std` socket, for the in-process forwarding benchmark.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use ed25519_dalek::SigningKey;
use relay_proto::key::NodeKey;
use relay_proto::{client_info, stream, Frame, FrameType, HEADER_LEN};

/// A connected, handshaken client.
pub struct BenchClient {
    pub stream: TcpStream,
    pub key: NodeKey,
    buf: Vec<u8>,
}

impl BenchClient {
    /// Upgrades with `iroh derp http` and sends ClientInfo.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.write_all(b"GET /relay HTTP/1.1\r\nupgrade: iroh derp http\r\nhost: bench\r\n\r\n")?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte)?;
            head.push(byte[0]);
        }
        if !head.starts_with(b"HTTP/1.1 101") {
            return Err(std::io::Error::other("upgrade refused"));
        }
        let sk = SigningKey::from_bytes(&rand::random());
        let payload = client_info::build(&sk, client_info::PROTOCOL_VERSION);
        let mut out = Vec::new();
        stream::write_header(&mut out, FrameType::ClientInfo as u8, payload.len());
        out.extend_from_slice(&payload);
        s.write_all(&out)?;
        Ok(Self {
            stream: s,
            key: *sk.verifying_key().as_bytes(),
            buf: Vec::new(),
        })
    }

    /// Sends `n` packets to `dst` in one write.
    pub fn send_many(&mut self, dst: &NodeKey, packet: &[u8], n: usize) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(n * (HEADER_LEN + 32 + packet.len()));
        for _ in 0..n {
            stream::encode(&mut out, &Frame::SendPacket { dst, packet });
        }
        self.stream.write_all(&out)
    }

    /// Reads until `n` RecvPacket frames arrived.
    pub fn recv_packets(&mut self, n: usize) -> std::io::Result<()> {
        let mut got = 0;
        let mut chunk = vec![0u8; 64 * 1024];
        while got < n {
            while let Ok(Some(f)) = stream::next_frame(&self.buf) {
                if f.ty == FrameType::RecvPacket as u8 {
                    got += 1;
                }
                self.buf.drain(..f.end);
                if got == n {
                    return Ok(());
                }
            }
            let r = self.stream.read(&mut chunk)?;
            if r == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..r]);
        }
        Ok(())
    }

    /// Round trip through the relay: Ping, wait for the Pong.
    pub fn ping(&mut self) -> std::io::Result<()> {
        let mut out = Vec::new();
        stream::encode(&mut out, &Frame::Ping([1; 8]));
        self.stream.write_all(&out)?;
        let mut chunk = vec![0u8; 4096];
        loop {
            while let Ok(Some(f)) = stream::next_frame(&self.buf) {
                let ty = f.ty;
                self.buf.drain(..f.end);
                if ty == FrameType::Pong as u8 {
                    return Ok(());
                }
            }
            let r = self.stream.read(&mut chunk)?;
            if r == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..r]);
        }
    }
}
