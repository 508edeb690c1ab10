//! `without-io-uring PROGRAM [ARGS…]`: runs PROGRAM where io_uring is
//! blocked, as Docker's default seccomp profile (and containerd 2) block it:
//! a seccomp filter makes `io_uring_setup`, `io_uring_enter` and
//! `io_uring_register` fail with EPERM; every other call is allowed.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

/// The io_uring system calls, numbered alike on every Linux architecture.
const FIRST: u32 = 425;
const LAST: u32 = 427;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: without-io-uring PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    if let Err(e) = block_io_uring() {
        eprintln!("without-io-uring: cannot install the seccomp filter: {e}");
        return ExitCode::from(2);
    }
    let e = Command::new(&program).args(args).exec();
    eprintln!(
        "without-io-uring: cannot run {}: {e}",
        program.to_string_lossy()
    );
    ExitCode::from(127)
}

fn block_io_uring() -> std::io::Result<()> {
    let stmt = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u16, k: u32, jt: u8, jf: u8| libc::sock_filter { code, jt, jf, k };
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let mut prog = [
        // A = seccomp_data.nr
        stmt(LD_W_ABS, 0),
        // nr < FIRST: allow
        jump(JGE, FIRST, 0, 2),
        // nr > LAST: allow
        jump(JGT, LAST, 1, 0),
        stmt(RET, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        stmt(RET, libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: prctl with the documented arguments; `fprog` points at a
    // valid filter program that outlives the call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
