//! IPv4 protocol logic, sans-IO: fragment reassembly (RFC 791 section 3.2, with the
//! overlap policy of RFC 5722 applied to IPv4) and next-hop selection (RFC 1122 section
//! 3.3.1, RFC 1812 section 4.2.3.1 for broadcasts). Header parsing lives in `wire`.

pub mod reassembly;
pub mod route;
