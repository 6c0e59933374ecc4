//! TimeSync (seed `timesync-plan.md`): the SNTP packet codec and FastDate64 so far; the sequential and
//! parallel queries, the DNS cache and the file-timestamp fallback are still to come.

pub mod fastdate;
pub mod packet;
