-- Members, products, and the seed's order and payment tables.
-- Portable SQL for SQLite and MySQL/MariaDB: {{PK}} and {{TABLE}} are filled per dialect.
-- Money is BIGINT won; times are BIGINT unix milliseconds (UTC); flags are BIGINT 0/1.

CREATE TABLE users (
    id {{PK}},
    email VARCHAR(254) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    name VARCHAR(100) NOT NULL,
    username VARCHAR(50) NULL,
    phone VARCHAR(30) NULL,
    role VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
) {{TABLE}};
CREATE UNIQUE INDEX users_email ON users (email);
CREATE UNIQUE INDEX users_username ON users (username);

CREATE TABLE login_failures (
    scope_key VARCHAR(300) NOT NULL PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_started_at BIGINT NOT NULL
) {{TABLE}};

CREATE TABLE products (
    id {{PK}},
    seller_id BIGINT NOT NULL,
    name VARCHAR(200) NOT NULL,
    description VARCHAR(5000) NOT NULL,
    price BIGINT NOT NULL,
    stock BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT NULL,
    FOREIGN KEY (seller_id) REFERENCES users (id),
    CHECK (price > 0),
    CHECK (stock >= 0)
) {{TABLE}};
CREATE INDEX products_seller ON products (seller_id, id);

CREATE TABLE orders (
    id {{PK}},
    buyer_id BIGINT NOT NULL,
    seller_id BIGINT NOT NULL,
    status VARCHAR(32) NOT NULL,
    total_amount BIGINT NOT NULL,
    receiver_name VARCHAR(100) NOT NULL,
    receiver_phone VARCHAR(30) NOT NULL,
    address VARCHAR(500) NOT NULL,
    postcode VARCHAR(10) NOT NULL,
    expires_at BIGINT NOT NULL,
    from_cart BIGINT NOT NULL DEFAULT 0,
    delivered_at BIGINT NULL,
    auto_confirm_at BIGINT NULL,
    disputed_from VARCHAR(32) NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    FOREIGN KEY (buyer_id) REFERENCES users (id),
    FOREIGN KEY (seller_id) REFERENCES users (id),
    CHECK (total_amount > 0)
) {{TABLE}};
CREATE INDEX orders_buyer ON orders (buyer_id, id);
CREATE INDEX orders_seller ON orders (seller_id, id);
CREATE INDEX orders_status_expiry ON orders (status, expires_at);
CREATE INDEX orders_status_confirm ON orders (status, auto_confirm_at);

CREATE TABLE order_items (
    id {{PK}},
    order_id BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    name VARCHAR(200) NOT NULL,
    price BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    FOREIGN KEY (order_id) REFERENCES orders (id),
    FOREIGN KEY (product_id) REFERENCES products (id),
    CHECK (quantity > 0)
) {{TABLE}};
CREATE INDEX order_items_order ON order_items (order_id);

CREATE TABLE payments (
    id {{PK}},
    order_id BIGINT NOT NULL,
    merchant_uid VARCHAR(64) NOT NULL,
    imp_uid VARCHAR(64) NULL,
    amount BIGINT NOT NULL,
    refunded_amount BIGINT NOT NULL DEFAULT 0,
    released_amount BIGINT NOT NULL DEFAULT 0,
    status VARCHAR(32) NOT NULL,
    escrow BIGINT NOT NULL,
    escrow_status VARCHAR(32) NOT NULL,
    pg_provider VARCHAR(64) NULL,
    pay_method VARCHAR(32) NULL,
    failure_code VARCHAR(64) NULL,
    paid_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    FOREIGN KEY (order_id) REFERENCES orders (id),
    CHECK (amount > 0),
    CHECK (refunded_amount >= 0 AND released_amount >= 0 AND refunded_amount + released_amount <= amount)
) {{TABLE}};
CREATE UNIQUE INDEX payments_merchant_uid ON payments (merchant_uid);
CREATE UNIQUE INDEX payments_imp_uid ON payments (imp_uid);
CREATE INDEX payments_order ON payments (order_id);
CREATE INDEX payments_status ON payments (status, id);
