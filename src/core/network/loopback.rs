//! Real sockets on loopback: what `serve` listens on and real clients connect to.
//!
//! An account keeps its one listening socket for as long as the world runs. While the
//! account is stopped, down or restarting, the socket is *parked*: it stops listening
//! (so the kernel refuses connections, as for a closed port) but stays bound, without
//! `SO_REUSEADDR`, so no socket of another user can bind the port meanwhile. Starting
//! again listens on the same socket; its `SO_REUSEPORT` (which only the same user can
//! share) lets it listen past its own connections in TIME_WAIT.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

/// Listen backlog of every account.
const BACKLOG: i32 = 1024;

/// Binds and listens at `addr`. Port 0 is turned into an explicit port first, so the
/// kernel keeps the port bound while the socket is parked.
pub(super) fn listen(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = if addr.port() == 0 {
        // A free port, held by a probe (reusable, never listening) until the real socket
        // binds it explicitly beside it.
        let probe = reusable_socket(addr)?;
        probe.bind(addr)?;
        let port = probe.local_addr()?.port();
        let socket = reusable_socket(addr)?;
        socket.bind(SocketAddr::new(addr.ip(), port))?;
        drop(probe);
        socket
    } else {
        let socket = reusable_socket(addr)?;
        socket.bind(addr)?;
        socket
    };
    socket.listen(BACKLOG as u32)
}

/// Stops listening and keeps the port: connections are refused, and no other socket
/// can bind it (see the module's doc).
pub(super) fn park(listener: tokio::net::TcpListener) -> io::Result<std::net::TcpListener> {
    let listener = listener.into_std()?;
    rustix::net::shutdown(listener.as_fd(), rustix::net::Shutdown::Read)?;
    rustix::net::sockopt::set_socket_reuseaddr(listener.as_fd(), false)?;
    Ok(listener)
}

/// Listens again on a parked socket (same port).
pub(super) fn resume(parked: std::net::TcpListener) -> io::Result<tokio::net::TcpListener> {
    rustix::net::listen(parked.as_fd(), BACKLOG)?;
    parked.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(parked)
}

/// A free port no one else can take (not even with `SO_REUSEPORT`), never listened on.
pub(super) fn reserve_free(ip: std::net::IpAddr) -> io::Result<tokio::net::TcpSocket> {
    let socket = if ip.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    Ok(socket)
}

fn reusable_socket(addr: SocketAddr) -> io::Result<tokio::net::TcpSocket> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn squat(addr: SocketAddr, reuse_port: bool) -> io::Result<tokio::net::TcpListener> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(reuse_port)?;
        socket.bind(addr)?;
        socket.listen(16)
    }

    #[tokio::test]
    async fn a_parked_port_refuses_connections_and_cannot_be_squatted() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // A connection, so the next run meets one of its own in TIME_WAIT.
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (served, _) = listener.accept().await.unwrap();
        drop(served);
        drop(client);
        let parked = park(listener).unwrap();
        let refused = tokio::net::TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        // (`SO_REUSEPORT` is shared with the same user only: `shared_host` tries it as
        // another user.)
        assert!(squat(addr, false).is_err());
        let resumed = resume(parked).unwrap();
        assert_eq!(resumed.local_addr().unwrap(), addr);
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (_, peer) = resumed.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(
            squat(addr, false).is_err(),
            "a listening port is not shared"
        );
    }
}
