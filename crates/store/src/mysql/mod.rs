//! MySQL/MariaDB only: keeping pooled connections alive, and hot reads sent together.

pub(crate) mod batch;
pub(crate) mod ping;
pub(crate) mod row;
