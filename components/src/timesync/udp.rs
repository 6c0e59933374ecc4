//! The real transport: one SNTP exchange over a fresh tokio UDP socket, replies accepted only from
//! the address asked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::UdpSocket;

use super::packet::PACKET_LEN;
use super::query::{NtpTransport, TransportError};

/// Datagrams from other addresses skipped before an exchange gives up.
pub const MAX_STRAY_DATAGRAMS: usize = 16;
/// Largest reply read (48 bytes plus extension fields); longer datagrams are truncated.
const MAX_REPLY: usize = 1024;

/// SNTP over UDP: each exchange binds its own ephemeral socket (loopback for a loopback server, the
/// unspecified address otherwise), so replies never mix between concurrent exchanges.
#[derive(Clone, Copy, Debug, Default)]
pub struct UdpTransport;

impl UdpTransport {
    /// The transport.
    pub fn new() -> Self {
        Self
    }
}

fn local_for(to: SocketAddr) -> SocketAddr {
    let ip = match (to.ip(), to.ip().is_loopback()) {
        (IpAddr::V4(_), true) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (IpAddr::V4(_), false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (IpAddr::V6(_), true) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        (IpAddr::V6(_), false) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

impl NtpTransport for UdpTransport {
    async fn exchange(
        &self,
        to: SocketAddr,
        request: [u8; PACKET_LEN],
    ) -> Result<Vec<u8>, TransportError> {
        let send_err = |e: std::io::Error| TransportError::Send {
            addr: to,
            why: e.to_string(),
        };
        let socket = UdpSocket::bind(local_for(to)).await.map_err(send_err)?;
        socket.send_to(&request, to).await.map_err(send_err)?;
        let mut buf = [0_u8; MAX_REPLY];
        for _ in 0..=MAX_STRAY_DATAGRAMS {
            let (n, from) = socket.recv_from(&mut buf).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    TransportError::Unreachable { addr: to }
                } else {
                    TransportError::Receive {
                        addr: to,
                        why: e.to_string(),
                    }
                }
            })?;
            if from == to {
                return Ok(buf[..n].to_vec());
            }
        }
        Err(TransportError::WrongSource {
            addr: to,
            ignored: MAX_STRAY_DATAGRAMS + 1,
        })
    }
}
