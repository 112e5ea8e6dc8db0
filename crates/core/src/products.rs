//! Products: sellers list what they sell; anyone browses. Deletion is soft so that past
//! orders keep their product.

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::page::{Page, PageRequest};
use escrow_domain::validation::bounded_text;
use escrow_domain::{FieldErrors, Role, Won};
use escrow_store::{now_millis, params, Db, Param, ReadRow, StoreError};

/// The most units of one product a seller may hold in stock.
pub const MAX_STOCK: i64 = 1_000_000;

#[derive(Debug, Clone)]
pub struct Product {
    pub id: i64,
    pub seller_id: i64,
    pub name: String,
    pub description: String,
    pub price: Won,
    pub stock: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A validated product as a seller writes it.
#[derive(Debug, Clone)]
pub struct ProductDraft {
    pub name: String,
    pub description: String,
    pub price: Won,
    pub stock: i64,
}

impl ProductDraft {
    pub fn parse(
        name: &str,
        description: &str,
        price: i64,
        stock: i64,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = errors.check("name", bounded_text(name, 1, 200));
        let description = errors.check("description", bounded_text(description, 0, 5000));
        let price = errors.check("price", Won::positive(price));
        let stock = errors.check(
            "stock",
            if (0..=MAX_STOCK).contains(&stock) {
                Ok(stock)
            } else {
                Err(format!("must be between 0 and {MAX_STOCK}"))
            },
        );
        errors.finish()?;
        match (name, description, price, stock) {
            (Some(name), Some(description), Some(price), Some(stock)) => Ok(Self {
                name,
                description,
                price,
                stock,
            }),
            _ => Err(FieldErrors::new()),
        }
    }
}

/// Which products to list.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub seller_id: Option<i64>,
    pub query: Option<String>,
}

#[derive(Clone)]
pub struct Products {
    db: Db,
    /// Ids one search reads at most (`ESCROW_SEARCH_WINDOW`).
    search_window: i64,
}

const COLUMNS: &str = "id, seller_id, name, description, price, stock, created_at, updated_at";

impl Products {
    pub fn new(db: Db, search_window: i64) -> Self {
        Self { db, search_window }
    }

    pub async fn create(&self, caller: Caller, draft: ProductDraft) -> AppResult<i64> {
        if caller.role != Role::Seller {
            return Err(AppError::Forbidden("only sellers can list products".into()));
        }
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let id = tx
            .insert_returning_id(
                "INSERT INTO products (seller_id, name, description, price, stock, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
                params![
                    caller.user_id,
                    &draft.name,
                    &draft.description,
                    draft.price.get(),
                    draft.stock,
                    now,
                    now
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Replaces the product's fields; only its seller may.
    pub async fn update(&self, caller: Caller, id: i64, draft: ProductDraft) -> AppResult<()> {
        let changed = self
            .db
            .write(
                "UPDATE products SET name = ?, description = ?, price = ?, stock = ?, \
                 updated_at = ? WHERE id = ? AND seller_id = ? AND deleted_at IS NULL",
                params![
                    &draft.name,
                    &draft.description,
                    draft.price.get(),
                    draft.stock,
                    now_millis(),
                    id,
                    caller.user_id,
                ],
            )
            .await?;
        if changed == 0 {
            return Err(self.why_not_owned(id).await);
        }
        Ok(())
    }

    /// Takes the product off the catalogue; orders that reference it keep it.
    pub async fn delete(&self, caller: Caller, id: i64) -> AppResult<()> {
        let changed = self
            .db
            .write(
                "UPDATE products SET deleted_at = ?, updated_at = ? \
             WHERE id = ? AND seller_id = ? AND deleted_at IS NULL",
                params![now_millis(), now_millis(), id, caller.user_id],
            )
            .await?;
        if changed == 0 {
            return Err(self.why_not_owned(id).await);
        }
        Ok(())
    }

    /// After a write matched nothing: 404 when the product is gone, else 403.
    async fn why_not_owned(&self, id: i64) -> AppError {
        match self.get(id).await {
            Ok(_) => AppError::Forbidden("only the product's seller can change it".into()),
            Err(err) => err,
        }
    }

    pub async fn get(&self, id: i64) -> AppResult<Product> {
        let sql = format!("SELECT {COLUMNS} FROM products WHERE deleted_at IS NULL AND id IN (?)");
        self.db
            .reads()
            .fetch_by_key(&sql, id, product_from_row)
            .await?
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("product {id} does not exist")))
    }

    /// Newest first, by keyset on the id.
    ///
    /// A search (`q`) matches anywhere in a name, which no index serves: it reads the rows
    /// one by one. So that its cost does not grow with the catalogue (a search for a name
    /// nobody has would read every row), one call reads at most `search_window` ids below
    /// its cursor, and a page it does not fill still carries the cursor of the ids below
    /// them.
    pub async fn list(
        &self,
        filter: &ProductFilter,
        page: PageRequest,
    ) -> AppResult<Page<Product>> {
        let mut sql = format!("SELECT {COLUMNS} FROM products WHERE deleted_at IS NULL");
        let mut keys = Vec::new();
        if let Some(before) = page.before_id {
            sql.push_str(" AND id < ?");
            keys.push(before);
        }
        if let Some(seller) = filter.seller_id {
            sql.push_str(" AND seller_id = ?");
            keys.push(seller);
        }
        let limit = page.limit + 1;
        let Some(text) = filter.query.as_deref() else {
            sql.push_str(" ORDER BY id DESC LIMIT ?");
            keys.push(limit);
            let keys: Vec<Param> = keys.into_iter().map(Param::Int).collect();
            let mut rows = self
                .db
                .reads()
                .fetch_all(&sql, &keys, product_from_row)
                .await?;
            // A batched read (MySQL) keeps no order across a batch's parts.
            rows.sort_unstable_by_key(|p| std::cmp::Reverse(p.id));
            return Ok(page.into_page(rows, |p| p.id));
        };
        let below = match page.before_id {
            Some(before) => before,
            None => self.newest_id().await? + 1,
        };
        let floor = below.saturating_sub(self.search_window);
        sql.push_str(" AND id >= ?");
        keys.push(floor);
        // LOWER on both sides: SQLite's LIKE and MySQL's binary collation differ in case.
        sql.push_str(" AND LOWER(name) LIKE ? ESCAPE '!' ORDER BY id DESC LIMIT ?");
        // A scan, even a bounded one, stays on the pool (off the request threads).
        let mut query = sqlx::query(&sql);
        for key in keys {
            query = query.bind(key);
        }
        let rows = query
            .bind(like_pattern(text))
            .bind(limit)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|row| product_from_row(row))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page.into_window_page(rows, |p| p.id, floor))
    }

    /// The highest product id, 0 when there are none (deleted products count: ids are
    /// what a search window is measured in).
    async fn newest_id(&self) -> AppResult<i64> {
        let newest = self
            .db
            .reads()
            .fetch_all(
                "SELECT COALESCE(MAX(id), 0) AS newest_id FROM products",
                &[],
                |row| row.int("newest_id"),
            )
            .await?;
        Ok(newest.first().copied().unwrap_or(0))
    }
}

/// `%text%` with LIKE's wildcards escaped, lower-cased.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Maps a row of `COLUMNS`.
fn product_from_row(row: &dyn ReadRow) -> Result<Product, StoreError> {
    Ok(Product {
        id: row.int("id")?,
        seller_id: row.int("seller_id")?,
        name: row.text("name")?,
        description: row.text("description")?,
        price: Won::new(row.int("price")?)
            .map_err(|err| StoreError::Corrupt(format!("stored price: {err}")))?,
        stock: row.int("stock")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_pattern("50%_Off!"), "%50!%!_off!!%");
    }

    #[test]
    fn drafts_are_checked() {
        assert!(ProductDraft::parse("x", "", 1000, 0).is_ok());
        let errors = ProductDraft::parse("", "", -1, -1)
            .err()
            .map(FieldErrors::into_vec);
        assert_eq!(errors.map(|e| e.len()), Some(3));
        assert!(ProductDraft::parse("x", "", i64::MAX, 1).is_err());
    }
}
