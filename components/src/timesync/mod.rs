//! TimeSync (seed `timesync-plan.md`): the SNTP packet codec, the sequential and parallel multi-server
//! queries over a transport (UDP, or simulated in tests), the DNS TTL cache, the file-timestamp
//! fallback scans and FastDate64.

pub mod dns;
pub mod fastdate;
pub mod packet;
pub mod query;
pub mod scan;
pub mod udp;
