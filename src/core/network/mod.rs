//! The wire below the transport: where an account listens and how a caller reaches it.
//!
//! Two networks carry the same HTTP and TLS. `loopback` is real sockets on the wall
//! clock (`serve`, real clients, and any run that asks for it); `simulated` is an
//! in-memory network on the world's paused clock (`run` and `explore` by default).
//! Everything above this cut is shared by both: the listener's TLS and HTTP serving, the
//! routers and handlers, faults, the HTTP client (`client`), the transport's
//! scheduler, retries, classification and trace. Only binding and dialing differ.

pub(crate) mod body;
pub(crate) mod client;
mod loopback;
mod memory;
mod pool;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub use memory::MemoryNetwork;

/// Which network a world runs on (scenario files and `--network` spell these).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::Display,
    clap::ValueEnum,
)]
#[serde(into = "&'static str")]
#[strum(serialize_all = "snake_case")]
pub enum NetworkKind {
    /// In-memory connections on the world's paused clock: no sockets, no waiting, the
    /// same bytes on every run.
    #[default]
    Simulated,
    /// Real loopback sockets and the wall clock, as real clients see the accounts.
    Loopback,
}

/// A world's network: how listeners bind and callers dial. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Network {
    /// Real TCP on loopback.
    Loopback,
    /// The world's own in-memory network.
    Simulated(Arc<MemoryNetwork>),
}

impl Network {
    /// A fresh network of `kind` (a simulated one belongs to one world).
    pub fn new(kind: NetworkKind) -> Network {
        match kind {
            NetworkKind::Loopback => Network::Loopback,
            NetworkKind::Simulated => Network::Simulated(Arc::new(MemoryNetwork::default())),
        }
    }

    /// Which network this is.
    pub fn kind(&self) -> NetworkKind {
        match self {
            Network::Loopback => NetworkKind::Loopback,
            Network::Simulated(_) => NetworkKind::Simulated,
        }
    }

    /// Starts listening at `addr` (port 0: a free port). A port kept by a
    /// [`Reservation`] of this world can be bound again; anything else listening there
    /// is an error, as on a real host.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<Listener> {
        match self {
            Network::Loopback => loopback::listen(addr).map(Listener::Tcp),
            Network::Simulated(network) => network.bind(addr).map(Listener::Memory),
        }
    }

    /// On the simulated network, refuses dials to `addr` at once and keeps the port
    /// (before the listener's task has wound down). None on loopback, where the
    /// listener itself is kept by [`Network::park`].
    pub fn close_and_keep(&self, addr: SocketAddr) -> Option<Reservation> {
        match self {
            Network::Loopback => None,
            Network::Simulated(network) => {
                let reservation = network.reserve(addr);
                network.close(addr);
                Some(Reservation::Memory(reservation))
            }
        }
    }

    /// Keeps a stopped account's port on loopback: its listener stops listening
    /// (connections are refused) but no other socket can take the port, until
    /// [`Network::resume`]. An in-memory listener is just dropped (see
    /// [`Network::close_and_keep`]).
    pub fn park(&self, listener: Listener) -> io::Result<Option<Reservation>> {
        match listener {
            Listener::Tcp(listener) => {
                loopback::park(listener).map(|p| Some(Reservation::Parked(p)))
            }
            Listener::Memory(_) => Ok(None),
        }
    }

    /// Listens again on a parked port.
    pub fn resume(&self, reservation: Reservation, addr: SocketAddr) -> io::Result<Listener> {
        match reservation {
            Reservation::Parked(parked) => loopback::resume(parked).map(Listener::Tcp),
            other => {
                drop(other);
                self.bind(addr)
            }
        }
    }

    /// A free port that is kept and never listened on: connections to it are refused.
    pub fn reserve_free(&self, ip: std::net::IpAddr) -> io::Result<(SocketAddr, Reservation)> {
        match self {
            Network::Loopback => {
                let socket = loopback::reserve_free(ip)?;
                Ok((socket.local_addr()?, Reservation::Tcp(socket)))
            }
            Network::Simulated(network) => {
                let (addr, reservation) = network.reserve_free(ip)?;
                Ok((addr, Reservation::Memory(reservation)))
            }
        }
    }

    /// Stops accepting at `addr` now: on the simulated network a later dial is refused
    /// at once, not after the listener's task has wound down. (A real socket closes when
    /// its task drops it.)
    pub fn close(&self, addr: SocketAddr) {
        if let Network::Simulated(network) = self {
            network.close(addr);
        }
    }

    /// Opens a connection to `addr`; refused when nothing listens there.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<Stream> {
        match self {
            Network::Loopback => {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                let _ = stream.set_nodelay(true);
                Ok(Stream::Tcp(stream))
            }
            Network::Simulated(network) => network.connect(addr).map(Stream::Memory),
        }
    }
}

/// A bound listener on either network.
#[derive(Debug)]
pub enum Listener {
    /// A real socket.
    Tcp(tokio::net::TcpListener),
    /// An in-memory port.
    Memory(memory::MemoryListener),
}

impl Listener {
    /// The next connection and who opened it.
    pub async fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                Ok((Stream::Tcp(stream), peer))
            }
            Listener::Memory(listener) => listener
                .accept()
                .await
                .map(|(stream, peer)| (Stream::Memory(stream), peer)),
        }
    }

    /// Where it listens.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Tcp(listener) => listener.local_addr(),
            Listener::Memory(listener) => Ok(listener.local_addr()),
        }
    }
}

/// A port kept: for a stopped account (see [`Network::park`]) or never listened on
/// (see [`Network::reserve_free`]).
#[derive(Debug)]
pub enum Reservation {
    /// A bound socket that never listens, so the kernel refuses connections to it.
    Tcp(tokio::net::TcpSocket),
    /// A stopped account's listening socket, no longer listening but still bound.
    Parked(std::net::TcpListener),
    /// An in-memory port marked as kept.
    Memory(memory::MemoryReservation),
}

/// One connection on either network: the same bytes, whichever carries them.
#[derive(Debug)]
pub enum Stream {
    /// A real socket.
    Tcp(tokio::net::TcpStream),
    /// One end of an in-memory pipe.
    Memory(tokio::io::DuplexStream),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            Stream::Memory(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            Stream::Memory(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            Stream::Memory(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            Stream::Memory(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Stream::Memory(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(stream) => stream.is_write_vectored(),
            Stream::Memory(stream) => stream.is_write_vectored(),
        }
    }
}

/// Runs `future` the way a simulated world must run: on a current-thread runtime of its
/// own whose clock is paused, so time moves only when every task waits. Called from a
/// thread that is not inside a runtime (a blocking task, a test, the CLI).
pub fn run_simulated<F: std::future::Future>(future: F) -> io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()?;
    Ok(runtime.block_on(future))
}
