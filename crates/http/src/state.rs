//! The one application state, built once by the composition root.

use escrow_core::members::Members;
use escrow_core::products::Products;
use escrow_core::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub members: Members,
    pub products: Products,
}

impl AppState {
    pub fn new(db: Db, members: Members) -> Self {
        Self {
            products: Products::new(db.clone()),
            db,
            members,
        }
    }
}
