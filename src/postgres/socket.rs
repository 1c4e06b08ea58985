//! The TCP socket under every connection, with a read path for bulk transfers.
//!
//! tokio-postgres reads through an 8 KiB buffer, so a COPY of 600 MB costs about 90,000 `recvfrom`
//! calls and a wake-up for every few kilobytes the server sends. During a bulk read this socket raises
//! the kernel's low-water mark (`SO_RCVLOWAT`): the reader is woken once a large gulp is waiting and
//! takes it with one call into its own buffer. Bytes below the mark never raise readiness, so while the
//! mark is up a short timer reads whatever has arrived (the end of a COPY is always short).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Bytes the kernel gathers before it wakes a bulk reader.
const BULK_LOW_WATER: usize = 256 * 1024;
/// The read buffer in bulk mode: room for a few gulps.
const BUFFER: usize = 1024 * 1024;
/// How long a bulk reader waits for a short tail before it reads it anyway.
const TAIL_WAIT: Duration = Duration::from_millis(1);

/// Switches a connection's socket into and out of bulk mode; cheap to clone.
#[derive(Clone, Default)]
pub struct BulkSwitch(Arc<AtomicBool>);

impl BulkSwitch {
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }
}

pub struct Socket {
    inner: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    switch: BulkSwitch,
    /// Whether the socket's low-water mark is now raised (bulk mode).
    bulk: bool,
    tail: Option<Pin<Box<Sleep>>>,
}

impl Socket {
    pub fn new(inner: TcpStream, switch: BulkSwitch) -> Socket {
        Socket {
            inner,
            buf: Box::default(),
            start: 0,
            end: 0,
            switch,
            bulk: false,
            tail: None,
        }
    }

    fn sync_low_water(&mut self) {
        let bulk = self.switch.0.load(Ordering::Relaxed);
        if bulk != self.bulk {
            if bulk && self.buf.is_empty() {
                self.buf = vec![0u8; BUFFER].into_boxed_slice();
            }
            // Best effort: a kernel that refuses simply wakes us more often.
            set_low_water(&self.inner, if bulk { BULK_LOW_WATER } else { 1 });
            self.bulk = bulk;
            if !bulk {
                self.tail = None;
            }
        }
    }

    /// Read what has arrived, below the mark too, without waiting for readiness.
    fn read_tail(&mut self) -> io::Result<Option<usize>> {
        // The socket is non-blocking: this returns what is there, or WouldBlock.
        match io::Read::read(&mut &*SockRef::from(&self.inner), &mut self.buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.start == this.end {
            this.sync_low_water();
            if !this.bulk {
                // Not in bulk mode: read straight into the caller's buffer.
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            let mut rb = ReadBuf::new(&mut this.buf);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    this.start = 0;
                    this.end = rb.filled().len();
                    this.tail = None;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => loop {
                    let tail = this
                        .tail
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(TAIL_WAIT)));
                    if tail.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    match this.read_tail()? {
                        Some(n) => {
                            this.start = 0;
                            this.end = n;
                            this.tail = None;
                            break;
                        }
                        None => {
                            let t = this.tail.as_mut().expect("armed above");
                            t.as_mut().reset(Instant::now() + TAIL_WAIT);
                        }
                    }
                },
            }
        }
        let n = (this.end - this.start).min(out.remaining());
        out.put_slice(&this.buf[this.start..this.start + n]);
        this.start += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Set `SO_RCVLOWAT`, ignoring failure.
///
/// Why `unsafe` outside `src/duck/`: none of what lakemig already builds sets this option safely:
/// std and tokio do not, and socket2 0.6.5 (which serves the safe read in `read_tail`) covers
/// `SO_RCVBUF` and the TCP options but not `SO_RCVLOWAT`. A new dependency for one call was not worth
/// it. This is the crate's only `unsafe` outside `src/duck/`: one `setsockopt` with a stack `c_int`.
fn set_low_water(sock: &TcpStream, bytes: usize) {
    use std::os::fd::AsRawFd;
    let value = bytes as libc::c_int;
    // SAFETY: `sock` owns a valid, open socket descriptor for the whole call; `value` is a c_int
    // that lives until setsockopt returns, and the length passed is exactly its size.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Run `test` on a fresh single-threaded runtime with a listener on a free loopback port.
    fn on_loopback<F, Fut>(test: F)
    where
        F: FnOnce(tokio::net::TcpListener, std::net::SocketAddr) -> Fut,
        Fut: Future<Output = ()>,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            test(listener, addr).await;
        });
    }

    /// Everything sent arrives in order in bulk mode, including a tail far below the low-water mark
    /// that no readiness event announces, and the switch can go back and forth mid-stream.
    #[test]
    fn bulk_reads_every_byte_and_the_short_tail() {
        on_loopback(|listener, addr| async move {
            let sent: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
            let to_send = sent.clone();
            let writer = tokio::spawn(async move {
                let (mut peer, _) = listener.accept().await.unwrap();
                // Big writes, then small ones with pauses (each below the mark), then a reply wait.
                peer.write_all(&to_send[..2_500_000]).await.unwrap();
                for piece in to_send[2_500_000..].chunks(100_000) {
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    peer.write_all(piece).await.unwrap();
                }
                let mut ack = [0u8; 2];
                peer.read_exact(&mut ack).await.unwrap();
                peer.write_all(b"bye").await.unwrap();
            });
            let switch = BulkSwitch::default();
            let mut sock = Socket::new(TcpStream::connect(addr).await.unwrap(), switch.clone());
            let mut got = vec![0u8; sent.len()];
            let mut filled = 0;
            while filled < got.len() {
                // Like tokio-postgres: small reads; bulk mode from the first megabyte on.
                let end = (filled + 8192).min(got.len());
                let n = sock.read(&mut got[filled..end]).await.unwrap();
                assert!(n > 0, "early EOF at {filled}");
                filled += n;
                switch.set(filled >= 1 << 20);
            }
            assert!(got == sent, "bytes differ");
            switch.set(false);
            sock.write_all(b"ok").await.unwrap();
            let mut bye = Vec::new();
            sock.read_to_end(&mut bye).await.unwrap();
            assert_eq!(bye, b"bye");
            writer.await.unwrap();
        });
    }

    /// Bulk mode left on while the peer waits for us cannot hang: the tail timer reads the short
    /// message the low-water mark holds back.
    #[test]
    fn a_short_reply_in_bulk_mode_arrives() {
        on_loopback(|listener, addr| async move {
            let server = tokio::spawn(async move {
                let (mut peer, _) = listener.accept().await.unwrap();
                peer.write_all(b"hello").await.unwrap();
                let mut buf = [0u8; 1];
                let _ = peer.read(&mut buf).await;
            });
            let switch = BulkSwitch::default();
            switch.set(true);
            let mut sock = Socket::new(TcpStream::connect(addr).await.unwrap(), switch);
            let mut got = [0u8; 5];
            tokio::time::timeout(Duration::from_secs(5), sock.read_exact(&mut got))
                .await
                .expect("the short reply never arrived")
                .unwrap();
            assert_eq!(&got, b"hello");
            sock.write_all(b"x").await.unwrap();
            server.await.unwrap();
        });
    }
}
