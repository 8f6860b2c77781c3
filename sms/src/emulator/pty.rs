//! Emulated modems on pseudo-terminals: the slave side is a device path that `tokio-serial`, Gammu or
//! `minicom` open like a USB modem's `/dev/ttyUSB0`. A [`Port`] keeps a stable symlink to it (as udev's
//! `/dev/serial/by-id/…` does) and can be unplugged and plugged back.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::pty::{PtyMaster, grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;

use super::EmulatedModem;

/// The master side of a pseudo-terminal, as an async byte stream.
pub struct Pty {
    master: AsyncFd<PtyMaster>,
    /// Held open so the master never reads EIO while no client has the device open.
    _slave: File,
    path: PathBuf,
}

impl Pty {
    pub fn open() -> io::Result<Self> {
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let path = PathBuf::from(ptsname_r(&master)?);
        let slave = OpenOptions::new().read(true).write(true).custom_flags_noctty().open(&path)?;
        // Raw: no echo, no line editing, no CR/LF translation by the terminal layer.
        let mut termios = tcgetattr(slave.as_fd())?;
        cfmakeraw(&mut termios);
        tcsetattr(slave.as_fd(), SetArg::TCSANOW, &termios)?;
        let flags = OFlag::from_bits_truncate(fcntl(master.as_raw_fd(), FcntlArg::F_GETFL)?);
        fcntl(master.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        // SAFETY: `PtyMaster` owns its descriptor: it stays open and the same until the `AsyncFd` drops it.
        let master = unsafe { AsyncFd::register(master) }.map_err(io::Error::from)?;
        Ok(Self { master, _slave: slave, path })
    }

    /// The device path clients open (`/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

trait NoCtty {
    fn custom_flags_noctty(&mut self) -> &mut Self;
}

impl NoCtty for OpenOptions {
    fn custom_flags_noctty(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc_noctty())
    }
}

fn libc_noctty() -> i32 {
    OFlag::O_NOCTTY.bits()
}

impl AsyncRead for Pty {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.master.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard
                .try_io(|fd| nix::unistd::read(fd.get_ref().as_raw_fd(), unfilled).map_err(io::Error::from))
            {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // EIO: no slave is open any more (cannot happen while we hold one); treat as end.
                Ok(Err(e)) if e.raw_os_error() == Some(nix::libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Pty {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.master.poll_write_ready(cx))?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// An emulated modem plugged into a pseudo-terminal, reachable at a stable path.
pub struct Port {
    modem: EmulatedModem,
    link: PathBuf,
    task: Option<JoinHandle<()>>,
}

impl Port {
    /// Plugs `modem` in, with `link` (e.g. `/tmp/x/ttyUSB0`) pointing at its device.
    pub fn plug(modem: EmulatedModem, link: impl Into<PathBuf>) -> io::Result<Self> {
        let mut port = Self { modem, link: link.into(), task: None };
        port.replug()?;
        Ok(port)
    }

    /// The path clients open.
    pub fn path(&self) -> &Path {
        &self.link
    }

    pub fn modem(&self) -> &EmulatedModem {
        &self.modem
    }

    pub fn is_plugged(&self) -> bool {
        self.task.is_some()
    }

    /// Pulls the cable: the device disappears; clients reading it get an error.
    pub fn unplug(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.link);
    }

    /// Plugs it back (a new device behind the same path), power-cycled: a hung modem answers again.
    pub fn replug(&mut self) -> io::Result<()> {
        self.unplug();
        self.modem.power_cycle();
        let pty = Pty::open()?;
        std::os::unix::fs::symlink(pty.path(), &self.link)?;
        let modem = self.modem.clone();
        self.task = Some(tokio::spawn(async move {
            if let Err(e) = modem.serve(pty).await {
                tracing::debug!(error = %e, "emulated modem port closed");
            }
        }));
        Ok(())
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.unplug();
    }
}
