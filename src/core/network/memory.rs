//! The simulated network: ports and connections in memory, one network per world.
//!
//! A connection is a pair of in-memory pipes; the listener's end is handed to the
//! account's accept loop, which serves it exactly as it serves a socket (TLS and HTTP
//! included). Nothing here waits on a clock, so a world on this network only ever waits
//! on its own timers, which the paused runtime skips over.

use crate::core::trace::lock;
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

/// How many bytes each direction of a connection buffers before a writer waits.
const PIPE_BYTES: usize = 64 * 1024;
/// Where free ports are handed out from, as a kernel hands out ephemeral ports.
const FIRST_PORT: u16 = 49152;
/// Where callers' own ports are drawn from.
const FIRST_PEER_PORT: u16 = 32768;

type Incoming = (DuplexStream, SocketAddr);

/// One world's in-memory ports.
#[derive(Debug, Default)]
pub struct MemoryNetwork {
    ports: Mutex<Ports>,
}

#[derive(Debug, Default)]
struct Ports {
    by_addr: BTreeMap<SocketAddr, Port>,
    next_port: u16,
    next_peer: u16,
    next_generation: u64,
}

#[derive(Debug, Default)]
struct Port {
    /// The listener accepting here, by generation (a restart binds a new one).
    listener: Option<(u64, mpsc::UnboundedSender<Incoming>)>,
    reservations: usize,
}

impl Ports {
    fn free_port(&mut self, ip: IpAddr) -> io::Result<u16> {
        for _ in 0..=(u16::MAX - FIRST_PORT) {
            let port = FIRST_PORT + self.next_port;
            self.next_port = (self.next_port + 1) % (u16::MAX - FIRST_PORT);
            if !self.by_addr.contains_key(&SocketAddr::new(ip, port)) {
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "every simulated port is taken",
        ))
    }

    fn forget_if_unused(&mut self, addr: SocketAddr) {
        if let Some(port) = self.by_addr.get(&addr)
            && port.listener.is_none()
            && port.reservations == 0
        {
            self.by_addr.remove(&addr);
        }
    }
}

impl MemoryNetwork {
    /// Listens at `addr` (port 0: the next free port).
    pub(super) fn bind(self: &Arc<Self>, addr: SocketAddr) -> io::Result<MemoryListener> {
        let mut ports = lock(&self.ports);
        let addr = if addr.port() == 0 {
            SocketAddr::new(addr.ip(), ports.free_port(addr.ip())?)
        } else {
            addr
        };
        ports.next_generation += 1;
        let generation = ports.next_generation;
        let port = ports.by_addr.entry(addr).or_default();
        if port.listener.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr} is already listening on the simulated network"),
            ));
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        port.listener = Some((generation, sender));
        Ok(MemoryListener {
            addr,
            generation,
            receiver: Mutex::new(receiver),
            network: self.clone(),
        })
    }

    /// Keeps `addr` while nothing listens there.
    pub(super) fn reserve(self: &Arc<Self>, addr: SocketAddr) -> MemoryReservation {
        lock(&self.ports)
            .by_addr
            .entry(addr)
            .or_default()
            .reservations += 1;
        MemoryReservation {
            addr,
            network: self.clone(),
        }
    }

    /// A free port, kept.
    pub(super) fn reserve_free(
        self: &Arc<Self>,
        ip: IpAddr,
    ) -> io::Result<(SocketAddr, MemoryReservation)> {
        let port = lock(&self.ports).free_port(ip)?;
        let addr = SocketAddr::new(ip, port);
        Ok((addr, self.reserve(addr)))
    }

    /// Stops accepting at `addr` at once.
    pub(super) fn close(&self, addr: SocketAddr) {
        let mut ports = lock(&self.ports);
        if let Some(port) = ports.by_addr.get_mut(&addr) {
            port.listener = None;
        }
        ports.forget_if_unused(addr);
    }

    /// A connection to whoever listens at `addr`; refused when no one does.
    pub(super) fn connect(&self, addr: SocketAddr) -> io::Result<DuplexStream> {
        let mut ports = lock(&self.ports);
        let peer_port = FIRST_PEER_PORT + ports.next_peer;
        ports.next_peer = (ports.next_peer + 1) % (FIRST_PORT - FIRST_PEER_PORT);
        let refused = || {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("nothing listens at {addr}"),
            )
        };
        let Some((_, sender)) = ports
            .by_addr
            .get(&addr)
            .and_then(|port| port.listener.as_ref())
        else {
            return Err(refused());
        };
        let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), peer_port);
        sender.send((theirs, peer)).map_err(|_| refused())?;
        Ok(ours)
    }
}

/// A listening in-memory port; it stops listening when dropped.
#[derive(Debug)]
pub struct MemoryListener {
    addr: SocketAddr,
    generation: u64,
    receiver: Mutex<mpsc::UnboundedReceiver<Incoming>>,
    network: Arc<MemoryNetwork>,
}

impl MemoryListener {
    /// The next connection. Once the port is closed this never resolves: the accept
    /// loop ends on its cancellation token, as it does for a socket.
    pub(super) async fn accept(&self) -> io::Result<Incoming> {
        let next = std::future::poll_fn(|cx| lock(&self.receiver).poll_recv(cx)).await;
        match next {
            Some(incoming) => Ok(incoming),
            None => std::future::pending().await,
        }
    }

    /// Where it listens.
    pub(super) fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MemoryListener {
    fn drop(&mut self) {
        let mut ports = lock(&self.network.ports);
        if let Some(port) = ports.by_addr.get_mut(&self.addr)
            && port
                .listener
                .as_ref()
                .is_some_and(|(generation, _)| *generation == self.generation)
        {
            port.listener = None;
        }
        ports.forget_if_unused(self.addr);
    }
}

/// A kept in-memory port (see [`super::Network::reserve`]).
#[derive(Debug)]
pub struct MemoryReservation {
    addr: SocketAddr,
    network: Arc<MemoryNetwork>,
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        let mut ports = lock(&self.network.ports);
        if let Some(port) = ports.by_addr.get_mut(&self.addr) {
            port.reservations = port.reservations.saturating_sub(1);
        }
        ports.forget_if_unused(self.addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn localhost(port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    }

    #[tokio::test]
    async fn a_connection_carries_bytes_both_ways() {
        let network = Arc::new(MemoryNetwork::default());
        let listener = network.bind(localhost(0)).unwrap();
        assert!(listener.local_addr().port() >= FIRST_PORT);
        let mut client = network.connect(listener.local_addr()).unwrap();
        let (mut server, peer) = listener.accept().await.unwrap();
        assert!(peer.ip().is_loopback());
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        server.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    }

    #[test]
    fn nothing_listening_is_refused_and_ports_are_kept_while_reserved() {
        let network = Arc::new(MemoryNetwork::default());
        let refused = network.connect(localhost(50000)).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        let listener = network.bind(localhost(0)).unwrap();
        let addr = listener.local_addr();
        assert_eq!(
            network.bind(addr).unwrap_err().kind(),
            io::ErrorKind::AddrInUse
        );
        let reservation = network.reserve(addr);
        network.close(addr);
        drop(listener);
        assert_eq!(
            network.connect(addr).unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );
        // A free port is never one that is kept.
        let other = network.bind(localhost(0)).unwrap();
        assert_ne!(other.local_addr(), addr);
        let again = network.bind(addr).unwrap();
        drop(reservation);
        assert!(network.connect(again.local_addr()).is_ok());
    }
}
