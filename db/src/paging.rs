//! The journal's pages at operator scale (a million transactions and more).
//!
//! Three things keep every page and its "sur N" total fast whatever the depth, sort or filter:
//! - **Totals from counts kept up to date**: `journal_counts` holds the number of transactions per gérance,
//!   station and status, maintained by triggers in the same database transaction as every insert and
//!   status change (migration 0004). A total without key or date filter is a sum over at most
//!   stations × statuses rows; with them, a `COUNT(*)` that an index narrows down.
//! - **Only the filters that are set** go into the SQL (built with `QueryBuilder`, portable placeholders),
//!   so the planner can use the index of each one instead of scanning for `(? IS NULL OR …)`.
//! - **Ids first, rows second, from the nearer end**: the page's ids are read from an index alone (no
//!   joins for the skipped rows), from the end of the order that is nearer (the last page is as cheap as
//!   the first), then the page's rows are read by id.
//! - **Skip less**: sorted by station or status, the counts say in which group a page starts, so only that
//!   group's rows are skipped; the operator's default view (every transaction by number) is a range of
//!   numbers when they have no gap (transactions are never deleted), found without skipping anything.
//!
//! [`Db::journal_page_naive`] is the straightforward `OFFSET`/`COUNT(*)` form: the benchmark's baseline and
//! the reference the fast form is checked against (`db/benches/journal.rs`).

use sqlx::{QueryBuilder, Row, Sqlite};

use crate::journal::{JournalFilter, JournalSort, TX_COLUMNS, TX_FROM, TxRecord, tx_from_row};
use crate::stations::Scope;
use crate::{Db, Result};

/// Appends ` AND …` for the scope and every filter that is set.
fn push_filters(q: &mut QueryBuilder<'_, Sqlite>, scope: Scope, filter: &JournalFilter) {
    if let Scope::Gerance(g) = scope {
        q.push(" AND t.gerance_id = ").push_bind(g);
    }
    if let Some(s) = filter.station {
        q.push(" AND t.station_id = ").push_bind(s);
    }
    if let Some(k) = filter.key {
        q.push(" AND t.key_number = ").push_bind(i64::from(k));
    }
    if let Some(s) = filter.status {
        q.push(" AND t.status = ").push_bind(s.as_str());
    }
    if let Some(t) = filter.from {
        q.push(" AND t.created_at >= ").push_bind(t.millis());
    }
    if let Some(t) = filter.until {
        q.push(" AND t.created_at < ").push_bind(t.millis());
    }
}

/// The ids of a page in `sort` order (`descending` or not), `skip` rows in.
fn ids_query<'a>(
    prefix: &str,
    scope: Scope,
    filter: &JournalFilter,
    sort: JournalSort,
    descending: bool,
    limit: i64,
    skip: i64,
) -> QueryBuilder<'a, Sqlite> {
    let mut q = QueryBuilder::<Sqlite>::new(format!("{prefix}SELECT t.id FROM transactions t"));
    if sort == JournalSort::Station {
        q.push(" JOIN stations s ON s.id = t.station_id");
    }
    q.push(" WHERE 1 = 1");
    push_filters(&mut q, scope, filter);
    q.push(" ORDER BY ").push(sort.order_by(descending));
    q.push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(skip);
    q
}

/// The number of matching rows: from the kept counts when only scope, station and status filter.
fn total_query<'a>(prefix: &str, scope: Scope, filter: &JournalFilter) -> QueryBuilder<'a, Sqlite> {
    let counted = filter.key.is_some() || filter.from.is_some() || filter.until.is_some();
    let mut q = QueryBuilder::<Sqlite>::new(if counted {
        format!("{prefix}SELECT COUNT(*) FROM transactions t WHERE 1 = 1")
    } else {
        format!("{prefix}SELECT COALESCE(SUM(t.n), 0) FROM journal_counts t WHERE 1 = 1")
    });
    push_filters(&mut q, scope, filter);
    q
}

impl Db {
    /// One page of the journal (`offset`, `limit` rows in `sort` order) and the number of rows matching
    /// the filter.
    pub async fn journal_page(
        &self,
        scope: Scope,
        filter: &JournalFilter,
        sort: JournalSort,
        descending: bool,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<TxRecord>, i64)> {
        let total = self.journal_total(scope, filter).await?;
        let (offset, limit) = (offset.max(0), limit.max(0));
        if offset >= total || limit == 0 {
            return Ok((Vec::new(), total));
        }
        let limit = limit.min(total - offset);
        // Past the middle, read the page backwards from the other end: fewer index entries to skip.
        let from_end = offset + limit / 2 > total / 2;
        let (skip, direction) =
            if from_end { (total - offset - limit, !descending) } else { (offset, descending) };

        let mut ids = self.page_ids(scope, filter, sort, direction, limit, skip, total).await?;
        if from_end {
            ids.reverse();
        }
        if ids.is_empty() {
            return Ok((Vec::new(), total));
        }

        let mut q =
            QueryBuilder::<Sqlite>::new(format!("SELECT {TX_COLUMNS} FROM {TX_FROM} WHERE t.id IN ("));
        let mut list = q.separated(", ");
        for id in &ids {
            list.push_bind(*id);
        }
        q.push(")");
        let mut rows =
            q.build().fetch_all(&self.pool).await?.iter().map(tx_from_row).collect::<Result<Vec<_>>>()?;
        // Back into the page's order.
        rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
        Ok((rows, total))
    }

    /// The ids of `limit` rows after skipping `skip`, in `sort` order.
    #[allow(clippy::too_many_arguments)]
    async fn page_ids(
        &self,
        scope: Scope,
        filter: &JournalFilter,
        sort: JournalSort,
        descending: bool,
        limit: i64,
        skip: i64,
        total: i64,
    ) -> Result<Vec<i64>> {
        let counts_apply = filter.key.is_none() && filter.from.is_none() && filter.until.is_none();
        let unfiltered = counts_apply && filter.station.is_none() && filter.status.is_none();
        if sort == JournalSort::Number && scope == Scope::All && unfiltered {
            // Transactions are never deleted: when the numbers have no gap, a page is a range of them.
            let (min, max): (Option<i64>, Option<i64>) = sqlx::query_as(
                // Two subqueries: each is one index lookup (MIN and MAX together would scan).
                "SELECT (SELECT MIN(id) FROM transactions), (SELECT MAX(id) FROM transactions)",
            )
            .fetch_one(&self.pool)
            .await?;
            if let (Some(min), Some(max)) = (min, max)
                && max - min + 1 == total
            {
                return Ok(if descending {
                    (0..limit).map(|i| max - skip - i).collect()
                } else {
                    (0..limit).map(|i| min + skip + i).collect()
                });
            }
        }
        if counts_apply && matches!(sort, JournalSort::Station | JournalSort::Status) {
            return self.page_ids_by_group(scope, filter, sort, descending, limit, skip).await;
        }
        let mut q = ids_query("", scope, filter, sort, descending, limit, skip);
        Ok(q.build_query_scalar().fetch_all(&self.pool).await?)
    }

    /// Sorted by station or status, the kept counts tell in which station (by name) or status the page
    /// starts: only that group's rows are skipped, through its index.
    async fn page_ids_by_group(
        &self,
        scope: Scope,
        filter: &JournalFilter,
        sort: JournalSort,
        descending: bool,
        limit: i64,
        mut skip: i64,
    ) -> Result<Vec<i64>> {
        let by_station = sort == JournalSort::Station;
        let (column, join) =
            if by_station { ("s.name", " JOIN stations s ON s.id = t.station_id") } else { ("t.status", "") };
        let dir = if descending { "DESC" } else { "ASC" };
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {column} AS grp, SUM(t.n) AS n FROM journal_counts t{join} WHERE 1 = 1"
        ));
        push_filters(&mut q, scope, filter);
        q.push(format!(" GROUP BY {column} ORDER BY {column} {dir}"));
        let groups: Vec<(String, i64)> = q.build_query_as().fetch_all(&self.pool).await?;
        let mut ids = Vec::new();
        for (group, n) in groups {
            if ids.len() as i64 >= limit {
                break;
            }
            if skip >= n {
                skip -= n;
                continue;
            }
            let mut q = QueryBuilder::<Sqlite>::new("SELECT t.id FROM transactions t WHERE ");
            if by_station {
                // The stations of that name (one, or a few in different gérances) through their index, so
                // that their rows come from (station_id, id) rather than a walk through all numbers.
                q.push("t.station_id IN (SELECT id FROM stations WHERE name = ").push_bind(group).push(")");
            } else {
                q.push("t.status = ").push_bind(group);
            }
            push_filters(&mut q, scope, filter);
            // Within the group too, from its nearer end.
            let take = (limit - ids.len() as i64).min(n - skip);
            let backwards = skip > n / 2;
            let (order, offset) = match (backwards, descending) {
                (false, _) => (dir, skip),
                (true, true) => ("ASC", n - skip - take),
                (true, false) => ("DESC", n - skip - take),
            };
            q.push(format!(" ORDER BY t.id {order} LIMIT ")).push_bind(take);
            q.push(" OFFSET ").push_bind(offset);
            let mut found: Vec<i64> = q.build_query_scalar().fetch_all(&self.pool).await?;
            if backwards {
                found.reverse();
            }
            ids.extend(found);
            skip = 0;
        }
        Ok(ids)
    }

    /// How many transactions match: from the kept counts when only scope, station and status filter,
    /// counted through an index otherwise.
    pub async fn journal_total(&self, scope: Scope, filter: &JournalFilter) -> Result<i64> {
        Ok(total_query("", scope, filter).build().fetch_one(&self.pool).await?.try_get(0)?)
    }

    /// SQLite's query plans for a page's total and its ids (the first page's, and from the end), for the
    /// benchmark's report.
    pub async fn journal_plans(
        &self,
        scope: Scope,
        filter: &JournalFilter,
        sort: JournalSort,
        descending: bool,
    ) -> Result<Vec<String>> {
        const EXPLAIN: &str = "EXPLAIN QUERY PLAN ";
        let mut plans = Vec::new();
        for mut q in
            [total_query(EXPLAIN, scope, filter), ids_query(EXPLAIN, scope, filter, sort, descending, 25, 0)]
        {
            let rows = q.build().fetch_all(&self.pool).await?;
            let lines: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>("detail"))
                .collect::<std::result::Result<_, _>>()?;
            plans.push(lines.join(" / "));
        }
        Ok(plans)
    }

    /// The straightforward form of [`Db::journal_page`]: `COUNT(*)` and `OFFSET` over the joined rows with
    /// every filter written as `($n IS NULL OR …)`. Same answers, slower at depth; kept as the benchmark's
    /// baseline and as the reference in tests.
    pub async fn journal_page_naive(
        &self,
        scope: Scope,
        filter: &JournalFilter,
        sort: JournalSort,
        descending: bool,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<TxRecord>, i64)> {
        let (all, gerance) = scope.binds();
        const WHERE: &str = "($1 OR t.gerance_id = $2) AND ($3 IS NULL OR t.station_id = $3)
             AND ($4 IS NULL OR t.key_number = $4) AND ($5 IS NULL OR t.status = $5)
             AND ($6 IS NULL OR t.created_at >= $6) AND ($7 IS NULL OR t.created_at < $7)";
        fn binds<'q>(
            q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
            (all, gerance): (bool, i64),
            filter: &JournalFilter,
        ) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
            q.bind(all)
                .bind(gerance)
                .bind(filter.station)
                .bind(filter.key.map(i64::from))
                .bind(filter.status.map(|s| s.as_str()))
                .bind(filter.from.map(|t| t.millis()))
                .bind(filter.until.map(|t| t.millis()))
        }
        let count_sql = format!("SELECT COUNT(*) FROM {TX_FROM} WHERE {WHERE}");
        let total: i64 =
            binds(sqlx::query(&count_sql), (all, gerance), filter).fetch_one(&self.pool).await?.try_get(0)?;
        let page_sql = format!(
            "SELECT {TX_COLUMNS} FROM {TX_FROM} WHERE {WHERE} ORDER BY {} LIMIT $8 OFFSET $9",
            sort.order_by(descending)
        );
        let rows = binds(sqlx::query(&page_sql), (all, gerance), filter)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        Ok((rows.iter().map(tx_from_row).collect::<Result<_>>()?, total))
    }

    /// Writes generated transactions in bulk, for benchmarks and load tests: one database transaction,
    /// multi-row inserts, the journal counter advanced once per row. Not for the product's own writes.
    pub async fn insert_generated_transactions(&self, rows: &[GeneratedTx]) -> Result<()> {
        let mut tx = self.write_txn().await?;
        let first: i64 = sqlx::query_scalar(
            "UPDATE counters SET value = value + $1 WHERE name = 'journal' RETURNING value - $1",
        )
        .bind(rows.len() as i64)
        .fetch_one(&mut *tx)
        .await?;
        // 11 values a row, within SQLite's 32,766 bound parameters.
        for (chunk_index, chunk) in rows.chunks(2_000).enumerate() {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO transactions (gerance_id, station_id, key_number, amount_rappen, status,
                     created_at, sent_at, confirmed_at, reloaded_at, ended_at, version) ",
            );
            q.push_values(chunk.iter().enumerate(), |mut b, (i, r)| {
                b.push_bind(r.gerance_id)
                    .push_bind(r.station_id)
                    .push_bind(i64::from(r.key))
                    .push_bind(r.amount_rappen)
                    .push_bind(r.status.as_str())
                    .push_bind(r.created_at)
                    .push_bind(r.sent_at)
                    .push_bind(r.confirmed_at)
                    .push_bind(r.reloaded_at)
                    .push_bind(r.ended_at)
                    .push_bind(first + 1 + (chunk_index * 2_000 + i) as i64);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A transaction made up by a generator.
#[derive(Debug, Clone)]
pub struct GeneratedTx {
    pub gerance_id: i64,
    pub station_id: i64,
    pub key: u16,
    pub amount_rappen: i64,
    pub status: domain::journal::TxStatus,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub confirmed_at: Option<i64>,
    pub reloaded_at: Option<i64>,
    pub ended_at: Option<i64>,
}
