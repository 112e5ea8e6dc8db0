//! Members: sign-up, login, the caller's profile, and admins created from the command line.

use crate::auth::{Caller, Passwords, Tokens};
use crate::error::{AppError, AppResult};
use crate::throttle;
use escrow_domain::validation::bounded_text;
use escrow_domain::{Email, FieldErrors, Password, Role};
use escrow_store::{now_millis, params, Db, DbErrorKind};
use sqlx::any::AnyRow;
use sqlx::Row;

/// A member as the service sees it (never with the password hash).
#[derive(Debug, Clone)]
pub struct Member {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub username: Option<String>,
    pub phone: Option<String>,
    pub role: Role,
    pub created_at: i64,
}

/// A validated sign-up.
#[derive(Debug)]
pub struct NewMember {
    pub email: Email,
    pub password: Password,
    pub name: String,
    pub username: Option<String>,
    pub phone: Option<String>,
    pub role: Role,
}

/// The raw sign-up fields as they arrived.
#[derive(Debug, Default)]
pub struct SignupFields<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: &'a str,
    pub username: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub role: Option<&'a str>,
}

impl NewMember {
    /// Parses every field, reporting all problems at once. Sign-up never makes an admin.
    pub fn parse(fields: SignupFields<'_>, allow_admin: bool) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let email = errors.check("email", Email::parse(fields.email));
        let password = errors.check("password", Password::parse(fields.password));
        let name = errors.check("name", bounded_text(fields.name, 1, 100));
        let username = fields
            .username
            .and_then(|u| errors.check("username", parse_username(u)));
        let phone = fields
            .phone
            .and_then(|p| errors.check("phone", parse_phone(p)));
        let role = match fields.role.map(Role::parse).unwrap_or(Ok(Role::Buyer)) {
            Ok(Role::Admin) if !allow_admin => {
                errors.add("role", "must be `buyer` or `seller`");
                None
            }
            Ok(role) => Some(role),
            Err(_) => {
                errors.add("role", "must be `buyer` or `seller`");
                None
            }
        };
        errors.finish()?;
        match (email, password, name, role) {
            (Some(email), Some(password), Some(name), Some(role)) => Ok(Self {
                email,
                password,
                name,
                username,
                phone,
                role,
            }),
            _ => Err(FieldErrors::new()),
        }
    }
}

fn parse_username(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.len() < 2 || name.len() > 50 {
        return Err("must be 2 to 50 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
    {
        return Err("may use only letters, digits, `_`, `.` and `-`".into());
    }
    Ok(name.to_string())
}

fn parse_phone(text: &str) -> Result<String, String> {
    let phone = text.trim();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if !(7..=15).contains(&digits)
        || !phone
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == ' ')
    {
        return Err("must be a phone number like 010-1234-5678".into());
    }
    Ok(phone.to_string())
}

/// A successful login.
#[derive(Debug)]
pub struct Session {
    pub token: String,
    pub expires_in: u64,
}

#[derive(Clone)]
pub struct Members {
    db: Db,
    passwords: Passwords,
    tokens: Tokens,
    signups: throttle::Limit,
}

impl Members {
    /// `signups_per_hour`: how many accounts one client address may open an hour.
    pub fn new(db: Db, passwords: Passwords, tokens: Tokens, signups_per_hour: i64) -> Self {
        Self {
            db,
            passwords,
            tokens,
            signups: throttle::signups(signups_per_hour),
        }
    }

    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// A sign-up from a client address, within that address's hourly allowance.
    pub async fn sign_up_from(&self, member: NewMember, client: &str) -> AppResult<i64> {
        throttle::claim(&self.db, &throttle::signup_scope(client), self.signups).await?;
        self.sign_up(member).await
    }

    pub async fn sign_up(&self, member: NewMember) -> AppResult<i64> {
        let hash = self.passwords.hash(member.password.clone()).await?;
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let insert = tx
            .insert_returning_id(
                "INSERT INTO users (email, password_hash, name, username, phone, role, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    member.email.as_str(),
                    hash,
                    &member.name,
                    member.username.as_deref(),
                    member.phone.as_deref(),
                    member.role.as_str(),
                    now,
                    now
                ],
            )
            .await;
        let user_id = match insert {
            Ok(id) => id,
            Err(err) => {
                let message = err.to_string();
                return Err(match err.kind() {
                    DbErrorKind::UniqueViolation if message.contains("username") => {
                        AppError::field("username", "is already taken")
                    }
                    DbErrorKind::UniqueViolation => AppError::EmailTaken,
                    _ => err.into(),
                });
            }
        };
        tx.commit().await?;
        Ok(user_id)
    }

    /// Logs in; an unknown e-mail and a wrong password answer the same, in the same time.
    pub async fn log_in(&self, email: &str, password: &str, client: &str) -> AppResult<Session> {
        let email = Email::parse(email)
            .map(|e| e.as_str().to_string())
            .unwrap_or_else(|_| email.trim().to_lowercase());
        let email_scope = throttle::email_scope(&email);
        let client_scope = throttle::client_scope(client);
        // The address first: guesses refused for the e-mail still count against their sender.
        throttle::claim(&self.db, &client_scope, throttle::PER_CLIENT).await?;
        throttle::claim(&self.db, &email_scope, throttle::PER_EMAIL).await?;

        let row =
            sqlx::query("SELECT id, role, password_hash, token_version FROM users WHERE email = ?")
                .bind(&email)
                .fetch_optional(self.db.pool())
                .await?;
        let (found, hash) = match row {
            Some(row) => {
                let id: i64 = row.try_get("id")?;
                let role: String = row.try_get("role")?;
                let hash: String = row.try_get("password_hash")?;
                let version: i64 = row.try_get("token_version")?;
                (Some((id, role, version)), Some(hash))
            }
            None => (None, None),
        };
        let password_ok = self.passwords.verify(password.to_string(), hash).await?;
        let Some((user_id, role, version)) = found.filter(|_| password_ok) else {
            return Err(AppError::InvalidCredentials);
        };
        throttle::clear(&self.db, &email_scope).await?;
        throttle::release(&self.db, &client_scope).await?;
        let role = Role::parse(&role).map_err(|err| AppError::internal("stored role", err))?;
        let token = self.tokens.issue(Caller { user_id, role }, version)?;
        Ok(Session {
            token,
            expires_in: self.tokens.ttl().as_secs(),
        })
    }

    /// The caller a token speaks for, as the user is stored now: a deleted user's or a
    /// signed-out token is refused, and the role is today's, not the one at login.
    pub async fn authenticate(&self, token: &str) -> AppResult<Caller> {
        let claims = self.tokens.verify(token)?;
        let user_id = claims.caller.user_id;
        // Every authenticated request makes this look-up: on the store's hot-read path.
        let (role, version) = self
            .db
            .reads()
            .fetch_by_key(
                "SELECT id, role, token_version FROM users WHERE id IN (?)",
                user_id,
                |row| -> AppResult<_> { Ok((row.text("role")?, row.int("token_version")?)) },
            )
            .await?
            .pop()
            .ok_or_else(|| AppError::Unauthorized("the token's user does not exist".into()))?;
        if version != claims.version {
            return Err(AppError::Unauthorized(
                "the token was signed out; sign in again".into(),
            ));
        }
        let role = Role::parse(&role).map_err(|err| AppError::internal("stored role", err))?;
        Ok(Caller { user_id, role })
    }

    /// Signs the user out everywhere: every token issued so far stops working.
    pub async fn log_out(&self, user_id: i64) -> AppResult<()> {
        self.db
            .write(
                "UPDATE users SET token_version = token_version + 1, updated_at = ? WHERE id = ?",
                params![now_millis(), user_id],
            )
            .await?;
        Ok(())
    }

    pub async fn get(&self, user_id: i64) -> AppResult<Member> {
        let row = sqlx::query(
            "SELECT id, email, name, username, phone, role, created_at FROM users WHERE id = ?",
        )
        .bind(user_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or_else(|| AppError::NotFound("no such user".into()))?;
        member_from_row(&row)
    }
}

fn member_from_row(row: &AnyRow) -> AppResult<Member> {
    let role: String = row.try_get("role")?;
    Ok(Member {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        username: row.try_get("username")?,
        phone: row.try_get("phone")?,
        role: Role::parse(&role).map_err(|err| AppError::internal("stored role", err))?,
        created_at: row.try_get("created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_up_never_makes_an_admin() {
        let fields = SignupFields {
            email: "a@b.kr",
            password: "password1",
            name: "Kim",
            role: Some("admin"),
            ..Default::default()
        };
        assert!(NewMember::parse(fields, false).is_err());
    }

    #[test]
    fn all_field_errors_at_once() {
        let fields = SignupFields {
            email: "nope",
            password: "short",
            name: "",
            phone: Some("abc"),
            ..Default::default()
        };
        let errors = NewMember::parse(fields, false)
            .err()
            .map(FieldErrors::into_vec);
        assert_eq!(errors.map(|e| e.len()), Some(4));
    }
}
