//! Real sockets on loopback: what `serve` listens on and real clients connect to.
//!
//! A listener may share its port with the account's own reservation (and with
//! connections of its previous listener still in TIME_WAIT), so a restarted account
//! always gets its port back.

use std::io;
use std::net::SocketAddr;

/// Binds and listens at `addr`.
pub(super) fn listen(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    shareable_socket(addr)?.listen(1024)
}

/// Keeps a stopped account's port: bound, never listening, so connections are refused.
pub(super) fn reserve(addr: SocketAddr) -> io::Result<tokio::net::TcpSocket> {
    shareable_socket(addr)
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

fn shareable_socket(addr: SocketAddr) -> io::Result<tokio::net::TcpSocket> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    Ok(socket)
}
