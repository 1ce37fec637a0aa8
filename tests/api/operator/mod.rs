//! The operator API (`/api/external/*`) and the economy under it: points, ads, app sessions.

mod ads;
mod costs;
mod external;
mod faults;
mod points;
