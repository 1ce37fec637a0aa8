//! Sign-up, and the pages the mails link to.

use buddo_shared::http::Routes;

pub fn routes() -> Routes {
    Routes::new()
}
