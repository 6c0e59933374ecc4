//! TimeSync (seed `timesync-plan.md`): the SNTP packet codec, FastDate64, the DNS TTL cache and the
//! file-timestamp fallback scans so far; the sequential and parallel queries are still to come.

pub mod dns;
pub mod fastdate;
pub mod packet;
pub mod scan;
