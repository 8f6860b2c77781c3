//! Property managers (gérances) and the accounts that log in.

use domain::{Account, Email, Gerance, GeranceId, GeranceName, Role, Timestamp, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::columns;
use crate::{Db, DbError, Result, SessionEnded, classify};

/// An account to create. The password is already hashed: the database never sees a password.
pub struct NewUser<'a> {
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub role: Role,
    pub gerance_id: Option<GeranceId>,
}

/// What login needs: the account, its password hash, and whether it may log in.
pub struct UserAuth {
    pub account: Account,
    pub password_hash: String,
    pub disabled: bool,
}

/// An account as `recharge user list` and the administration page show it.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub account: Account,
    pub created_at: Timestamp,
    pub disabled: bool,
}

/// A gérance with how much hangs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeranceOverview {
    pub gerance: Gerance,
    pub stations: i64,
    pub accounts: i64,
}

/// Columns read by [`account_from_row`], joined with the user's gérance.
const ACCOUNT_COLUMNS: &str = "u.id, u.email, u.role, u.locale, u.gerance_id, g.name AS gerance_name";
const ACCOUNT_FROM: &str = "users u LEFT JOIN gerances g ON g.id = u.gerance_id";

pub(crate) fn account_from_row(row: &AnyRow) -> Result<Account> {
    let corrupt = |what: &str| DbError::Unusable(format!("invalid {what} in table users"));
    let email: String = row.try_get("email")?;
    let role: String = row.try_get("role")?;
    let gerance = match row.try_get::<Option<i64>, _>("gerance_id")?.map(GeranceId) {
        Some(id) => {
            let name: String = row.try_get("gerance_name")?;
            Some(Gerance { id, name: GeranceName::parse(&name).map_err(|_| corrupt("gérance name"))? })
        }
        None => None,
    };
    Ok(Account {
        id: columns::user(row, "id")?,
        email: Email::parse(&email).map_err(|_| corrupt("e-mail"))?,
        role: role.parse().map_err(|_| corrupt("role"))?,
        gerance,
        locale: row.try_get("locale")?,
    })
}

fn summary_from_row(row: &AnyRow) -> Result<UserSummary> {
    Ok(UserSummary {
        account: account_from_row(row)?,
        created_at: columns::time(row, "created_at")?,
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
    })
}

impl Db {
    /// Creates a gérance; [`DbError::Conflict`] if the name is taken.
    pub async fn create_gerance(&self, name: &GeranceName, now: Timestamp) -> Result<Gerance> {
        let id: i64 =
            sqlx::query_scalar("INSERT INTO gerances (name, created_at) VALUES ($1, $2) RETURNING id")
                .bind(name.as_str())
                .bind(now.millis())
                .fetch_one(&self.writer)
                .await
                .map_err(classify)?;
        Ok(Gerance { id: GeranceId(id), name: name.clone() })
    }

    pub async fn gerance_by_name(&self, name: &GeranceName) -> Result<Option<Gerance>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM gerances WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(id.map(|id| Gerance { id: GeranceId(id), name: name.clone() }))
    }

    pub async fn list_gerances(&self) -> Result<Vec<Gerance>> {
        let rows = sqlx::query("SELECT id, name FROM gerances ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get("name")?;
                Ok(Gerance {
                    id: columns::gerance(r, "id")?,
                    name: GeranceName::parse(&name)
                        .map_err(|_| DbError::Unusable("invalid gérance name".into()))?,
                })
            })
            .collect()
    }

    /// Every gérance with its number of stations and accounts, by name.
    pub async fn gerance_overview(&self) -> Result<Vec<GeranceOverview>> {
        let rows = sqlx::query(
            "SELECT g.id, g.name,
                    (SELECT COUNT(*) FROM stations s WHERE s.gerance_id = g.id) AS stations,
                    (SELECT COUNT(*) FROM users u WHERE u.gerance_id = g.id) AS accounts
             FROM gerances g ORDER BY g.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let name: String = r.try_get("name")?;
                Ok(GeranceOverview {
                    gerance: Gerance {
                        id: columns::gerance(r, "id")?,
                        name: GeranceName::parse(&name)
                            .map_err(|_| DbError::Unusable("invalid gérance name".into()))?,
                    },
                    stations: r.try_get("stations")?,
                    accounts: r.try_get("accounts")?,
                })
            })
            .collect()
    }

    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
    }

    /// Creates an account; [`DbError::Conflict`] if the e-mail is taken, [`DbError::NotFound`] if the
    /// gérance does not exist.
    pub async fn create_user(&self, user: NewUser<'_>, now: Timestamp) -> Result<UserId> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, password_hash, role, gerance_id, created_at, password_changed_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(user.email.as_str())
        .bind(user.password_hash)
        .bind(user.role.as_str())
        .bind(user.gerance_id.map(GeranceId::get))
        .bind(now.millis())
        .fetch_one(&self.writer)
        .await
        .map_err(classify)?;
        Ok(UserId(id))
    }

    pub async fn user_auth_by_email(&self, email: &Email) -> Result<Option<UserAuth>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, u.password_hash, u.disabled_at FROM {ACCOUNT_FROM} WHERE u.email = $1"
        );
        let row = sqlx::query(&sql).bind(email.as_str()).fetch_optional(&self.pool).await?;
        row.map(|r| {
            Ok(UserAuth {
                account: account_from_row(&r)?,
                password_hash: r.try_get("password_hash")?,
                disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
            })
        })
        .transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserSummary>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, u.created_at, u.disabled_at FROM {ACCOUNT_FROM} ORDER BY u.email"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(summary_from_row).collect()
    }

    /// One account, disabled or not.
    pub async fn user(&self, user_id: UserId) -> Result<Option<UserSummary>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, u.created_at, u.disabled_at FROM {ACCOUNT_FROM} WHERE u.id = $1"
        );
        let row = sqlx::query(&sql).bind(user_id.get()).fetch_optional(&self.pool).await?;
        row.as_ref().map(summary_from_row).transpose()
    }

    /// Disables an account and ends its sessions in one transaction, or enables it again.
    /// [`DbError::NotFound`] if there is no such account.
    pub async fn set_disabled(&self, user_id: UserId, disabled: bool, now: Timestamp) -> Result<()> {
        let mut tx = self.write_txn().await?;
        let updated = sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
            .bind(disabled.then_some(now.millis()))
            .bind(user_id.get())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id.get())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if disabled {
            self.tell_ended(SessionEnded::Account(user_id));
        }
        Ok(())
    }

    /// Replaces an account's password hash and ends all of its sessions, in one transaction: after a
    /// password change, a stolen session is worth nothing.
    pub async fn set_password(&self, user_id: UserId, password_hash: &str, now: Timestamp) -> Result<()> {
        let mut tx = self.write_txn().await?;
        let updated =
            sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
                .bind(password_hash)
                .bind(now.millis())
                .bind(user_id.get())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id.get()).execute(&mut *tx).await?;
        tx.commit().await?;
        self.tell_ended(SessionEnded::Account(user_id));
        Ok(())
    }

    /// Remembers the language an account chose.
    pub async fn set_locale(&self, user_id: UserId, locale: &str) -> Result<()> {
        sqlx::query("UPDATE users SET locale = $1 WHERE id = $2")
            .bind(locale)
            .bind(user_id.get())
            .execute(&self.writer)
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
        let orphan =
            NewUser { email: &e, password_hash: "h", role: Role::Admin, gerance_id: Some(GeranceId(99)) };
        assert!(matches!(db.create_user(orphan, Timestamp(1)).await, Err(DbError::NotFound)));
        let g = db.create_gerance(&GeranceName::parse("G").unwrap(), Timestamp(1)).await.unwrap();
        let ok = NewUser { email: &e, password_hash: "h", role: Role::Admin, gerance_id: Some(g.id) };
        db.create_user(ok, Timestamp(1)).await.unwrap();
        let listed = db.list_users().await.unwrap();
        assert_eq!(listed[0].account.gerance, Some(g));
    }

    #[tokio::test]
    async fn a_disabled_account_loses_its_sessions_and_is_marked() {
        let (db, _dir) = fresh().await;
        let e = email("a@b.ch");
        let id = db
            .create_user(
                NewUser { email: &e, password_hash: "h", role: Role::Operator, gerance_id: None },
                Timestamp(1),
            )
            .await
            .unwrap();
        db.create_session(&[7; 32], id, Timestamp(2), Timestamp(1_000_000)).await.unwrap();
        db.set_disabled(id, true, Timestamp(3)).await.unwrap();
        assert!(db.session(&[7; 32]).await.unwrap().is_none());
        assert!(db.user_auth_by_email(&e).await.unwrap().unwrap().disabled);
        assert!(db.user(id).await.unwrap().unwrap().disabled);
        db.set_disabled(id, false, Timestamp(4)).await.unwrap();
        assert!(!db.user_auth_by_email(&e).await.unwrap().unwrap().disabled);
        assert!(matches!(db.set_disabled(UserId(99), true, Timestamp(5)).await, Err(DbError::NotFound)));
    }

    #[tokio::test]
    async fn gerance_names_are_unique() {
        let (db, _dir) = fresh().await;
        let n = GeranceName::parse("Gérance test").unwrap();
        db.create_gerance(&n, Timestamp(1)).await.unwrap();
        assert!(matches!(db.create_gerance(&n, Timestamp(1)).await, Err(DbError::Conflict)));
    }
}
