//! Property managers (gérances) and the accounts that log in.

use domain::{Account, Email, Gerance, GeranceName, Role, Timestamp};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Db, DbError, Result, classify};

/// An account to create. The password is already hashed: the database never sees a password.
pub struct NewUser<'a> {
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub role: Role,
    pub gerance_id: Option<i64>,
}

/// What login needs: the account and its password hash.
pub struct UserAuth {
    pub account: Account,
    pub password_hash: String,
}

/// One line of `recharge user list`.
#[derive(Debug)]
pub struct UserSummary {
    pub account: Account,
    pub created_at: Timestamp,
}

/// Columns read by [`account_from_row`], joined with the user's gérance.
const ACCOUNT_COLUMNS: &str = "u.id, u.email, u.role, u.locale, u.gerance_id, g.name AS gerance_name";
const ACCOUNT_FROM: &str = "users u LEFT JOIN gerances g ON g.id = u.gerance_id";

pub(crate) fn account_from_row(row: &SqliteRow) -> Result<Account> {
    let corrupt = |what: &str| DbError::Unusable(format!("invalid {what} in table users"));
    let email: String = row.try_get("email")?;
    let role: String = row.try_get("role")?;
    let gerance = match row.try_get::<Option<i64>, _>("gerance_id")? {
        Some(id) => {
            let name: String = row.try_get("gerance_name")?;
            Some(Gerance { id, name: GeranceName::parse(&name).map_err(|_| corrupt("gérance name"))? })
        }
        None => None,
    };
    Ok(Account {
        id: row.try_get("id")?,
        email: Email::parse(&email).map_err(|_| corrupt("e-mail"))?,
        role: role.parse().map_err(|_| corrupt("role"))?,
        gerance,
        locale: row.try_get("locale")?,
    })
}

impl Db {
    /// Creates a gérance; [`DbError::Conflict`] if the name is taken.
    pub async fn create_gerance(&self, name: &GeranceName, now: Timestamp) -> Result<Gerance> {
        let id: i64 =
            sqlx::query_scalar("INSERT INTO gerances (name, created_at) VALUES ($1, $2) RETURNING id")
                .bind(name.as_str())
                .bind(now.millis())
                .fetch_one(&self.pool)
                .await
                .map_err(classify)?;
        Ok(Gerance { id, name: name.clone() })
    }

    pub async fn gerance_by_name(&self, name: &GeranceName) -> Result<Option<Gerance>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM gerances WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(id.map(|id| Gerance { id, name: name.clone() }))
    }

    pub async fn list_gerances(&self) -> Result<Vec<Gerance>> {
        let rows = sqlx::query("SELECT id, name FROM gerances ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get("name")?;
                Ok(Gerance {
                    id: r.try_get("id")?,
                    name: GeranceName::parse(&name)
                        .map_err(|_| DbError::Unusable("invalid gérance name".into()))?,
                })
            })
            .collect()
    }

    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
    }

    /// Creates an account; [`DbError::Conflict`] if the e-mail is taken, [`DbError::NotFound`] if the
    /// gérance does not exist.
    pub async fn create_user(&self, user: NewUser<'_>, now: Timestamp) -> Result<i64> {
        let id = sqlx::query_scalar(
            "INSERT INTO users (email, password_hash, role, gerance_id, created_at, password_changed_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(user.email.as_str())
        .bind(user.password_hash)
        .bind(user.role.as_str())
        .bind(user.gerance_id)
        .bind(now.millis())
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?;
        Ok(id)
    }

    pub async fn user_auth_by_email(&self, email: &Email) -> Result<Option<UserAuth>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS}, u.password_hash FROM {ACCOUNT_FROM} WHERE u.email = $1");
        let row = sqlx::query(&sql).bind(email.as_str()).fetch_optional(&self.pool).await?;
        row.map(|r| {
            Ok(UserAuth { account: account_from_row(&r)?, password_hash: r.try_get("password_hash")? })
        })
        .transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserSummary>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS}, u.created_at FROM {ACCOUNT_FROM} ORDER BY u.email");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(UserSummary {
                    account: account_from_row(r)?,
                    created_at: Timestamp(r.try_get("created_at")?),
                })
            })
            .collect()
    }

    /// Replaces an account's password hash and ends all of its sessions, in one transaction: after a
    /// password change, a stolen session is worth nothing.
    pub async fn set_password(&self, user_id: i64, password_hash: &str, now: Timestamp) -> Result<()> {
        let mut tx = self.write_txn().await?;
        let updated =
            sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
                .bind(password_hash)
                .bind(now.millis())
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remembers the language an account chose.
    pub async fn set_locale(&self, user_id: i64, locale: &str) -> Result<()> {
        sqlx::query("UPDATE users SET locale = $1 WHERE id = $2")
            .bind(locale)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[tokio::test]
    async fn emails_are_unique_whatever_their_case() {
        let (db, _dir) = fresh().await;
        let a = email("Admin@Example.ch");
        let new = |e| NewUser { email: e, password_hash: "h", role: Role::Operator, gerance_id: None };
        db.create_user(new(&a), Timestamp(1)).await.unwrap();
        let b = email("admin@example.CH");
        assert!(matches!(db.create_user(new(&b), Timestamp(2)).await, Err(DbError::Conflict)));
        let found = db.user_auth_by_email(&email("ADMIN@example.ch")).await.unwrap().unwrap();
        assert_eq!(found.account.email.as_str(), "admin@example.ch");
    }

    #[tokio::test]
    async fn an_admin_belongs_to_an_existing_gerance() {
        let (db, _dir) = fresh().await;
        let e = email("a@b.ch");
        let orphan = NewUser { email: &e, password_hash: "h", role: Role::Admin, gerance_id: Some(99) };
        assert!(matches!(db.create_user(orphan, Timestamp(1)).await, Err(DbError::NotFound)));
        let g = db.create_gerance(&GeranceName::parse("G").unwrap(), Timestamp(1)).await.unwrap();
        let ok = NewUser { email: &e, password_hash: "h", role: Role::Admin, gerance_id: Some(g.id) };
        db.create_user(ok, Timestamp(1)).await.unwrap();
        let listed = db.list_users().await.unwrap();
        assert_eq!(listed[0].account.gerance, Some(g));
    }

    #[tokio::test]
    async fn gerance_names_are_unique() {
        let (db, _dir) = fresh().await;
        let n = GeranceName::parse("Gérance test").unwrap();
        db.create_gerance(&n, Timestamp(1)).await.unwrap();
        assert!(matches!(db.create_gerance(&n, Timestamp(1)).await, Err(DbError::Conflict)));
    }
}
