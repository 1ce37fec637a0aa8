//! The operator API (`/api/external/*`) and the economy under it: points, ads, app sessions.

mod ads;
mod external;
mod faults;
mod points;
