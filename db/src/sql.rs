//! Statements built at run time (only the filters that are set, lists of ids, multi-row inserts) with
//! numbered placeholders, `$1`, `$2`…, which both SQLite and PostgreSQL read.
//!
//! sqlx's `QueryBuilder` writes the placeholders of the database it is built for; for the `Any` driver
//! that is `?`, which PostgreSQL refuses. This builder writes `$n` whatever the database.

use std::fmt::Write as _;

use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments, Encode, Type};

/// SQL text and the values bound to its placeholders, in order.
#[derive(Default)]
pub(crate) struct Sql<'a> {
    text: String,
    args: AnyArguments<'a>,
    bound: usize,
}

impl<'a> Sql<'a> {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), ..Self::default() }
    }

    /// Appends SQL text as it is: never a value from outside (those go through `push_bind`).
    pub(crate) fn push(&mut self, text: impl std::fmt::Display) -> &mut Self {
        let _ = write!(self.text, "{text}");
        self
    }

    /// Appends the next placeholder and binds `value` to it.
    pub(crate) fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        // Encoding into Any's argument buffer only copies the value: it cannot fail for the types used.
        self.args.add(value).expect("a value bound to a statement");
        self.bound += 1;
        let _ = write!(self.text, "${}", self.bound);
        self
    }

    /// Appends `value, value, …` bound one by one.
    pub(crate) fn push_list<T>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push_bind(value);
        }
        self
    }

    #[cfg(test)]
    pub(crate) fn sql(&self) -> &str {
        &self.text
    }

    /// The statement, with the values bound so far (taken: build once).
    pub(crate) fn build(&mut self) -> sqlx::query::Query<'_, Any, AnyArguments<'_>> {
        sqlx::query_with(&self.text, std::mem::take(&mut self.args))
    }

    pub(crate) fn build_query_scalar<O>(&mut self) -> sqlx::query::QueryScalar<'_, Any, O, AnyArguments<'_>>
    where
        (O,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_scalar_with(&self.text, std::mem::take(&mut self.args))
    }

    pub(crate) fn build_query_as<O>(&mut self) -> sqlx::query::QueryAs<'_, Any, O, AnyArguments<'_>>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as_with(&self.text, std::mem::take(&mut self.args))
    }
}

#[cfg(test)]
mod tests {
    use super::Sql;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut q = Sql::new("SELECT id FROM t WHERE a = ");
        q.push_bind(1_i64).push(" AND b IN (").push_list(["x", "y"]).push(")");
        assert_eq!(q.sql(), "SELECT id FROM t WHERE a = $1 AND b IN ($2, $3)");
    }
}
