//! The io_uring backend: tokio-uring, one ring per shard, sized for
//! 10k+ connections with a read in flight each.

use std::future::Future;

use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::TcpStream;

/// Submission queue entries per shard.
const SQ_ENTRIES: u32 = 4096;
/// Completion queue entries: at least one in-flight read per connection
/// (10k+) must fit, or completions overflow.
const CQ_ENTRIES: u32 = 65536;

/// Sets up (and drops) a ring as a shard would, to learn whether io_uring
/// is allowed here.
pub fn probe() -> std::io::Result<()> {
    io_uring::IoUring::<io_uring::squeue::Entry>::builder()
        .setup_cqsize(CQ_ENTRIES)
        .build(SQ_ENTRIES)
        .map(drop)
}

fn runtime() -> std::io::Result<tokio_uring::Runtime> {
    let mut tuned = io_uring::IoUring::builder();
    tuned
        .setup_cqsize(CQ_ENTRIES)
        .setup_coop_taskrun()
        .setup_taskrun_flag();
    let mut b = tokio_uring::builder();
    b.entries(SQ_ENTRIES).uring_builder(&tuned);
    match tokio_uring::Runtime::new(&b) {
        Ok(rt) => Ok(rt),
        Err(e) => {
            // Older kernels lack the task-run flags; keep the large CQ.
            tracing::debug!("io_uring with task-run flags failed ({e}); retrying without");
            let mut plain = io_uring::IoUring::builder();
            plain.setup_cqsize(CQ_ENTRIES);
            b.uring_builder(&plain);
            tokio_uring::Runtime::new(&b)
        }
    }
}

pub fn block_on<F, Fut>(main: F) -> std::io::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = runtime()
        .map_err(|e| std::io::Error::new(e.kind(), format!("io_uring setup failed: {e}")))?;
    match super::iowq::cap(super::iowq::MAX_WORKERS) {
        Ok(w) => tracing::debug!("io_uring workers capped at {w:?}"),
        Err(e) => tracing::warn!("cannot cap io_uring workers: {e}"),
    }
    rt.block_on(async move { main().await });
    Ok(())
}

pub async fn read(s: &TcpStream, buf: Vec<u8>) -> (std::io::Result<usize>, Vec<u8>) {
    let len = buf.len();
    let (res, slice) = s.read(buf.slice(len..)).await;
    (res, slice.into_inner())
}

pub async fn write(s: &TcpStream, buf: Vec<u8>, from: usize) -> (std::io::Result<usize>, Vec<u8>) {
    let (res, slice) = s.write(buf.slice(from..)).submit().await;
    (res, slice.into_inner())
}

/// A non-blocking recv(2) beside the ring: data already in the socket is
/// taken now, not one ring round trip later.
pub fn try_read(s: &TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let spare = buf.spare_capacity_mut();
    // SAFETY: recv writes at most `spare.len()` bytes into memory `buf`
    // owns, and no ring operation holds `buf` now (it is borrowed here).
    let n = unsafe {
        libc::recv(
            s.as_raw_fd(),
            spare.as_mut_ptr().cast(),
            spare.len(),
            libc::MSG_DONTWAIT,
        )
    };
    let n = usize::try_from(n).map_err(|_| std::io::Error::last_os_error())?;
    // SAFETY: the kernel initialised these `n` bytes.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}
