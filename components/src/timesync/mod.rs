//! TimeSync (seed `timesync-plan.md`): the SNTP packet codec, FastDate64 and the DNS TTL cache so far;
//! the sequential and parallel queries and the file-timestamp fallback are still to come.

pub mod dns;
pub mod fastdate;
pub mod packet;
