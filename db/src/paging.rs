//! The journal's pages at operator scale (a million transactions and more).
//!
//! These keep every page and its "sur N" total fast whatever the depth, sort or filter:
//! - **Totals from counts kept up to date**: `journal_counts` holds the number of transactions per gérance,
//!   station and status, maintained by triggers in the same database transaction as every insert and
//!   status change (migration 0004). A total without key or date filter is a sum over at most
//!   stations × statuses rows; with them, a `COUNT(*)` that an index narrows down.
//! - **Only the filters that are set** go into the SQL (built with `sql::Sql`, numbered placeholders),
//!   so the planner can use the index of each one instead of scanning for `(? IS NULL OR …)`.
//! - **Ids first, rows second, from the nearer end**: the page's ids are read from an index alone (no
//!   joins for the skipped rows), from the end of the order that is nearer (the last page is as cheap as
//!   the first), then the page's rows are read by id.
//! - **Skip less**: sorted by station or status, the counts say in which group a page starts, so only that
//!   group's rows are skipped; the operator's default view (every transaction by number) is a range of
//!   numbers when they have no gap (transactions are never deleted), found without skipping anything.
//! - **Deep pages skip buckets, not rows**: `journal_buckets` (migration 0006) counts the transactions per
//!   bucket of each sort column (a range of numbers, keys, amounts or dates), status and gérance, kept
//!   like `journal_counts`. A page thousands of rows deep sums the buckets in order until it reaches its
//!   offset, then skips only within that bucket through the column's index.
//!
//! [`Db::journal_page_naive`] is the straightforward `OFFSET`/`COUNT(*)` form: the benchmark's baseline and
//! the reference the fast form is checked against (`db/benches/journal.rs`).

use sqlx::Row;

use crate::sql::Sql;

use crate::journal::{
    JournalFilter, JournalSort, JournalView, TX_COLUMNS, TX_FROM, TxRecord, order_by, tx_from_row,
};
use crate::stations::Scope;
use crate::{Backend, Db, Result};
use domain::journal::TxStatus;
use domain::{Amount, GeranceId, KeyNumber, StationId, Total};

/// From how many rows to skip on the kept bucket counts rather than through an index alone: below it,
/// stepping through the index costs less than a tenth of a millisecond.
const SKIP_BY_BUCKETS_FROM: i64 = 5_000;

/// A sort column's buckets in `journal_buckets` (migration 0006, which repeats the widths).
#[derive(Debug, Clone, Copy)]
struct Buckets {
    name: &'static str,
    /// The column whose value / `width` is the bucket; it ascends with the sort order.
    column: &'static str,
    width: i64,
}

impl Buckets {
    const ALL: [Buckets; 4] = [
        Buckets { name: "id", column: "t.id", width: 8_192 },
        Buckets { name: "key", column: "t.key_number", width: 128 },
        Buckets { name: "amount", column: "t.amount_rappen", width: 100 },
        Buckets { name: "date", column: "t.created_at", width: 1 << 31 },
    ];

    /// The buckets a deep page skips on, when its sort has them and the filter is at most a status (the
    /// counts are per status and gérance): by number, and by status then number, on the numbers'.
    fn of(sort: JournalSort, filter: &JournalFilter) -> Option<Buckets> {
        let only_status = filter.station.is_none()
            && filter.key.is_none()
            && filter.from.is_none()
            && filter.until.is_none();
        if !only_status {
            return None;
        }
        match sort {
            JournalSort::Number | JournalSort::Status => Some(Self::ALL[0]),
            JournalSort::Key => Some(Self::ALL[1]),
            JournalSort::Amount => Some(Self::ALL[2]),
            JournalSort::Date => Some(Self::ALL[3]),
            JournalSort::Station => None,
        }
    }
}

/// Appends ` AND …` for the scope and every filter that is set, for rows read in `sort` order.
///
/// Sorted by key, amount or date, a status is checked on the sort column's index, which carries it
/// (migration 0006), rather than looked up through the status index: SQLite, without statistics, takes
/// any equality for selective and would otherwise fetch all 930,000 reloaded transactions of a million
/// and sort them to show 25. On SQLite the condition is written so that no index serves it. PostgreSQL's
/// planner, which keeps statistics, is given the plain condition: it finds the status in the sort index
/// by itself, whereas the hidden form made it scan the whole table (82 ms instead of 0.8).
fn push_filters(
    q: &mut Sql<'_>,
    backend: Backend,
    scope: Scope,
    filter: &JournalFilter,
    sort: Option<JournalSort>,
) {
    if let Scope::Gerance(g) = scope {
        q.push(" AND t.gerance_id = ").push_bind(g.get());
    }
    if let Some(s) = filter.station {
        q.push(" AND t.station_id = ").push_bind(s.get());
    }
    if let Some(k) = filter.key {
        q.push(" AND t.key_number = ").push_bind(i64::from(k));
    }
    if let Some(s) = filter.status {
        let on_sort_index = backend == Backend::Sqlite
            && matches!(sort, Some(JournalSort::Key | JournalSort::Amount | JournalSort::Date));
        q.push(if on_sort_index { " AND t.status || '' = " } else { " AND t.status = " })
            .push_bind(s.as_str());
    }
    if let Some(t) = filter.from {
        q.push(" AND t.created_at >= ").push_bind(t.millis());
    }
    if let Some(t) = filter.until {
        q.push(" AND t.created_at < ").push_bind(t.millis());
    }
}

/// The ids of a page in `sort` order (`descending` or not), `skip` rows in.
fn ids_query<'a>(backend: Backend, prefix: &str, view: JournalView<'_>, limit: i64, skip: i64) -> Sql<'a> {
    let JournalView { scope, filter, sort, descending } = view;
    let mut q = Sql::new(format!("{prefix}SELECT t.id FROM transactions t"));
    if sort == JournalSort::Station {
        q.push(" JOIN stations s ON s.id = t.station_id");
    }
    q.push(" WHERE 1 = 1");
    push_filters(&mut q, backend, scope, filter, Some(sort));
    let dated = filter.from.is_some() || filter.until.is_some();
    if backend == Backend::Postgres && sort == JournalSort::Number && dated {
        // PostgreSQL's planner takes a date range's rows for spread evenly over the numbers, and walks
        // the numbers' index from the other end through 960,000 rows of a million to find a month's
        // (178 ms). An order no index gives makes it read the range from the dates' index and sort its
        // ids, as SQLite does (5 ms).
        q.push(format!(" ORDER BY t.id + 0 {}", if descending { "DESC" } else { "ASC" }));
    } else {
        q.push(" ORDER BY ").push(order_by(sort, descending));
    }
    q.push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(skip);
    q
}

/// The buckets of a sort column in its order (by status first when sorted by status) with their number
/// of rows matching the scope and status filter.
fn buckets_query<'a>(prefix: &str, view: JournalView<'_>, buckets: Buckets) -> Sql<'a> {
    let JournalView { scope, filter, sort, descending } = view;
    let dir = if descending { "DESC" } else { "ASC" };
    let groups = if sort == JournalSort::Status { "status, bucket" } else { "bucket" };
    let mut q = Sql::new(format!(
        "{prefix}SELECT {groups}, CAST(SUM(n) AS BIGINT) AS n FROM journal_buckets WHERE sort_by = "
    ));
    q.push_bind(buckets.name);
    if let Scope::Gerance(g) = scope {
        q.push(" AND gerance_id = ").push_bind(g.get());
    }
    if let Some(s) = filter.status {
        q.push(" AND status = ").push_bind(s.as_str());
    }
    if sort == JournalSort::Status {
        q.push(format!(" GROUP BY status, bucket ORDER BY status {dir}, bucket {dir}"));
    } else {
        q.push(format!(" GROUP BY bucket ORDER BY bucket {dir}"));
    }
    q
}

/// Where a deep page starts: in which bucket (and status, sorted by status), `offset` rows into it.
struct Start {
    status: Option<String>,
    bucket: i64,
    offset: i64,
}

/// The ids of a page from its bucket on: the column's index from the bucket's bound, skipping only
/// within the bucket.
fn bucket_ids_query<'a>(
    backend: Backend,
    prefix: &str,
    view: JournalView<'_>,
    buckets: Buckets,
    start: Start,
    limit: i64,
) -> Sql<'a> {
    let JournalView { scope, filter, sort, descending } = view;
    // The bucket's bounds on the column, which ascend with it.
    let (low, high) = (start.bucket * buckets.width, (start.bucket + 1) * buckets.width);
    let mut q = Sql::new(format!("{prefix}SELECT t.id FROM transactions t WHERE "));
    q.push(buckets.column).push(if descending { " < " } else { " >= " });
    q.push_bind(if descending { high } else { low });
    if let Some(s) = start.status {
        q.push(" AND t.status = ").push_bind(s);
    }
    push_filters(&mut q, backend, scope, filter, Some(sort));
    q.push(" ORDER BY ").push(order_by(sort, descending));
    q.push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(start.offset);
    q
}

/// What a view's total adds up: its rows, or their amounts in Rappen.
#[derive(Clone, Copy)]
enum Measure {
    Rows,
    Rappen,
}

/// The number of matching rows, or the sum of their amounts: from the kept counts and sums when only
/// scope, station and status filter.
fn total_query<'a>(
    backend: Backend,
    prefix: &str,
    scope: Scope,
    filter: &JournalFilter,
    measure: Measure,
) -> Sql<'a> {
    let counted = filter.key.is_some() || filter.from.is_some() || filter.until.is_some();
    let (what, from) = match (counted, measure) {
        (true, Measure::Rows) => ("COUNT(*)", "transactions"),
        (true, Measure::Rappen) => ("CAST(COALESCE(SUM(t.amount_rappen), 0) AS BIGINT)", "transactions"),
        (false, Measure::Rows) => ("CAST(COALESCE(SUM(t.n), 0) AS BIGINT)", "journal_counts"),
        (false, Measure::Rappen) => ("CAST(COALESCE(SUM(t.rappen), 0) AS BIGINT)", "journal_counts"),
    };
    let mut q = Sql::new(format!("{prefix}SELECT {what} FROM {from} t WHERE 1 = 1"));
    push_filters(&mut q, backend, scope, filter, None);
    q
}

impl Db {
    /// One page of the journal (`offset`, `limit` rows in `sort` order) and the number of rows matching
    /// the filter.
    pub async fn journal_page(
        &self,
        view: JournalView<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<TxRecord>, i64)> {
        let JournalView { scope, filter, descending, .. } = view;
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

        let mut ids =
            self.page_ids(JournalView { descending: direction, ..view }, limit, skip, total).await?;
        if from_end {
            ids.reverse();
        }
        if ids.is_empty() {
            return Ok((Vec::new(), total));
        }

        let mut q = Sql::new(format!("SELECT {TX_COLUMNS} FROM {TX_FROM} WHERE t.id IN ("));
        q.push_list(ids.iter().copied()).push(")");
        let mut rows =
            q.build().fetch_all(&self.pool).await?.iter().map(tx_from_row).collect::<Result<Vec<_>>>()?;
        // Back into the page's order.
        rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id.get()));
        Ok((rows, total))
    }

    /// The ids of `limit` rows after skipping `skip`, in `sort` order.
    async fn page_ids(&self, view: JournalView<'_>, limit: i64, skip: i64, total: i64) -> Result<Vec<i64>> {
        let JournalView { scope, filter, sort, descending } = view;
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
        if skip >= SKIP_BY_BUCKETS_FROM
            && let Some(buckets) = Buckets::of(sort, filter)
        {
            return self.page_ids_by_bucket(view, buckets, limit, skip).await;
        }
        if counts_apply && matches!(sort, JournalSort::Station | JournalSort::Status) {
            return self.page_ids_by_group(view, limit, skip).await;
        }
        let mut q = ids_query(self.backend, "", view, limit, skip);
        Ok(q.build_query_scalar().fetch_all(&self.pool).await?)
    }

    /// Sorted by station or status, the kept counts tell in which station (by name) or status the page
    /// starts: only that group's rows are skipped, through its index.
    async fn page_ids_by_group(&self, view: JournalView<'_>, limit: i64, mut skip: i64) -> Result<Vec<i64>> {
        let JournalView { scope, filter, sort, descending } = view;
        let by_station = sort == JournalSort::Station;
        let (column, join) =
            if by_station { ("s.name", " JOIN stations s ON s.id = t.station_id") } else { ("t.status", "") };
        let dir = if descending { "DESC" } else { "ASC" };
        let mut q = Sql::new(format!(
            "SELECT {column} AS grp, CAST(SUM(t.n) AS BIGINT) AS n FROM journal_counts t{join} WHERE 1 = 1"
        ));
        push_filters(&mut q, self.backend, scope, filter, None);
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
            let mut q = Sql::new("SELECT t.id FROM transactions t WHERE ");
            if by_station {
                // The stations of that name (one, or a few in different gérances) through their index, so
                // that their rows come from (station_id, id) rather than a walk through all numbers.
                q.push("t.station_id IN (SELECT id FROM stations WHERE name = ").push_bind(group).push(")");
            } else {
                q.push("t.status = ").push_bind(group);
            }
            push_filters(&mut q, self.backend, scope, filter, Some(sort));
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

    /// Deep in the journal, the kept bucket counts (`journal_buckets`) tell in which bucket of the sort
    /// column the page starts: only that bucket's rows are skipped, through the column's index. The
    /// buckets are read in order only as far as the page needs.
    async fn page_ids_by_bucket(
        &self,
        view: JournalView<'_>,
        buckets: Buckets,
        limit: i64,
        skip: i64,
    ) -> Result<Vec<i64>> {
        let JournalView { scope, filter, sort, descending } = view;
        use futures::TryStreamExt;

        let by_status = sort == JournalSort::Status;
        let mut q = buckets_query("", view, buckets);
        // The bucket where the page starts, and how many of its rows come before the page.
        let mut start = None;
        let mut before = 0;
        {
            let mut rows = q.build().fetch(&self.pool);
            while let Some(row) = rows.try_next().await? {
                let n: i64 = row.try_get("n")?;
                if before + n > skip {
                    let status: Option<String> = if by_status { Some(row.try_get("status")?) } else { None };
                    start = Some((status, row.try_get::<i64, _>("bucket")?));
                    break;
                }
                before += n;
            }
        }
        let Some((status, bucket)) = start else { return Ok(Vec::new()) };
        let start = Start { status: status.clone(), bucket, offset: skip - before };
        let mut q = bucket_ids_query(self.backend, "", view, buckets, start, limit);
        let mut ids: Vec<i64> = q.build_query_scalar().fetch_all(&self.pool).await?;
        if let Some(s) = status
            && (ids.len() as i64) < limit
        {
            // Sorted by status, the page goes on with the next statuses from their start.
            let mut q = Sql::new("SELECT t.id FROM transactions t WHERE t.status ");
            q.push(if descending { "< " } else { "> " }).push_bind(s);
            push_filters(&mut q, self.backend, scope, filter, Some(sort));
            q.push(" ORDER BY ").push(order_by(sort, descending));
            q.push(" LIMIT ").push_bind(limit - ids.len() as i64);
            ids.extend(q.build_query_scalar::<i64>().fetch_all(&self.pool).await?);
        }
        Ok(ids)
    }

    /// Every transaction matching `filter` in `sort` order, sent to `to` in chunks of `chunk` rows as
    /// they are read: one statement, so one consistent snapshot whatever is written meanwhile, and no
    /// more than the channel's capacity in memory whatever the number of rows. Ends early, without an
    /// error, when the receiver is dropped (the client left).
    pub async fn export_journal(
        &self,
        view: JournalView<'_>,
        chunk: usize,
        to: tokio::sync::mpsc::Sender<Result<Vec<TxRecord>>>,
    ) {
        let JournalView { scope, filter, sort, descending } = view;
        use futures::TryStreamExt;

        let mut q = Sql::new(format!("SELECT {TX_COLUMNS} FROM {TX_FROM} WHERE 1 = 1"));
        push_filters(&mut q, self.backend, scope, filter, Some(sort));
        q.push(" ORDER BY ").push(order_by(sort, descending));
        let mut rows = q.build().fetch(&self.pool);
        let mut batch = Vec::with_capacity(chunk);
        loop {
            match rows.try_next().await {
                Ok(Some(row)) => match tx_from_row(&row) {
                    Ok(tx) => batch.push(tx),
                    Err(e) => {
                        let _ = to.send(Err(e)).await;
                        return;
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    let _ = to.send(Err(e.into())).await;
                    return;
                }
            }
            if batch.len() >= chunk
                && to.send(Ok(std::mem::replace(&mut batch, Vec::with_capacity(chunk)))).await.is_err()
            {
                return;
            }
        }
        if !batch.is_empty() {
            let _ = to.send(Ok(batch)).await;
        }
    }

    /// How many transactions match: from the kept counts when only scope, station and status filter,
    /// counted through an index otherwise.
    pub async fn journal_total(&self, scope: Scope, filter: &JournalFilter) -> Result<i64> {
        Ok(total_query(self.backend, "", scope, filter, Measure::Rows)
            .build()
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// The sum in Rappen of the amounts reloaded among the rows `filter` matches: the view's money, shown
    /// beside its number of rows (kept sums, like the counts).
    pub async fn journal_reloaded(&self, scope: Scope, filter: &JournalFilter) -> Result<Total> {
        if filter.status.is_some_and(|s| s != TxStatus::Reloaded) {
            return Ok(Total::ZERO);
        }
        let filter = JournalFilter { status: Some(TxStatus::Reloaded), ..filter.clone() };
        let mut q = total_query(self.backend, "", scope, &filter, Measure::Rappen);
        let rappen: i64 = q.build_query_scalar().fetch_one(&self.pool).await?;
        Total::from_rappen(rappen)
            .map_err(|_| crate::DbError::Unusable("negative sum in journal_counts".into()))
    }

    /// The database's query plans for a page's total, its ids (the first page's, and from the end) and, where a
    /// deep page starts from the bucket counts, those two queries, for the benchmark's report.
    pub async fn journal_plans(&self, view: JournalView<'_>) -> Result<Vec<String>> {
        let JournalView { scope, filter, sort, .. } = view;
        let (explain, column) = match self.backend {
            crate::Backend::Sqlite => ("EXPLAIN QUERY PLAN ", "detail"),
            crate::Backend::Postgres => ("EXPLAIN ", "QUERY PLAN"),
        };
        let mut plans = Vec::new();
        let mut queries = vec![
            total_query(self.backend, explain, scope, filter, Measure::Rows),
            ids_query(self.backend, explain, view, 25, 0),
        ];
        // A deep page: its buckets, then its rows from its bucket.
        if let Some(buckets) = Buckets::of(sort, filter) {
            let start = Start {
                status: (sort == JournalSort::Status).then(|| TxStatus::Reloaded.as_str().to_owned()),
                bucket: 1,
                offset: 100,
            };
            queries.push(buckets_query(explain, view, buckets));
            queries.push(bucket_ids_query(self.backend, explain, view, buckets, start, 25));
        }
        for mut q in queries {
            let rows = q.build().fetch_all(&self.pool).await?;
            let lines: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>(column).map(|line| line.trim().to_owned()))
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
        view: JournalView<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<TxRecord>, i64)> {
        let JournalView { scope, filter, sort, descending } = view;
        let (all, gerance) = scope.binds();
        const WHERE: &str = "($1 OR t.gerance_id = $2) AND ($3 IS NULL OR t.station_id = $3)
             AND ($4 IS NULL OR t.key_number = $4) AND ($5 IS NULL OR t.status = $5)
             AND ($6 IS NULL OR t.created_at >= $6) AND ($7 IS NULL OR t.created_at < $7)";
        fn binds<'q>(
            q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
            (all, gerance): (bool, i64),
            filter: &JournalFilter,
        ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
            q.bind(all)
                .bind(gerance)
                .bind(filter.station.map(StationId::get))
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
            order_by(sort, descending)
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
        // Numbered after the journal's last N° (or a restore's floor), like `journal::insert_top_up`.
        let last: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN a.m > b.f - 1 THEN a.m ELSE b.f - 1 END
             FROM (SELECT COALESCE(MAX(id), 0) AS m FROM transactions) a
             CROSS JOIN (SELECT COALESCE(MAX(value), 0) AS f FROM counters WHERE name = 'tx_floor') b",
        )
        .fetch_one(&mut *tx)
        .await?;
        // 100 rows a statement: SQLite looks numbered placeholders up by name, in time growing with
        // their number squared.
        const ROWS: usize = 100;
        for (chunk_index, chunk) in rows.chunks(ROWS).enumerate() {
            let mut q = Sql::new(
                "INSERT INTO transactions (id, gerance_id, station_id, key_number, amount_rappen, status,
                     created_at, sent_at, confirmed_at, reloaded_at, ended_at, version) VALUES ",
            );
            for (i, r) in chunk.iter().enumerate() {
                let n = (chunk_index * ROWS + i) as i64 + 1;
                q.push(if i == 0 { "(" } else { ", (" })
                    .push_bind(last + n)
                    .push(", ")
                    .push_bind(r.gerance_id.get())
                    .push(", ")
                    .push_bind(r.station_id.get())
                    .push(", ")
                    .push_bind(i64::from(r.key))
                    .push(", ")
                    .push_bind(r.amount.rappen())
                    .push(", ")
                    .push_bind(r.status.as_str())
                    .push(", ")
                    .push_bind(r.created_at)
                    .push(", ")
                    .push_bind(r.sent_at)
                    .push(", ")
                    .push_bind(r.confirmed_at)
                    .push(", ")
                    .push_bind(r.reloaded_at)
                    .push(", ")
                    .push_bind(r.ended_at)
                    .push(", ")
                    .push_bind(first + n)
                    .push(")");
            }
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// After bulk loads by [`Db::insert_generated_transactions`], once: on PostgreSQL, which plans from
    /// statistics that a bulk load leaves behind until autovacuum's next pass, they are gathered now.
    /// And a bulk load rewrites the 37,000 kept counts thousands of times in a row, far faster than
    /// autovacuum reclaims them (145 MB, 60 ms to read a column's buckets; 2.6 MB and 4 ms compacted):
    /// compacted, so that what a benchmark measures is the reads. Nothing to do on SQLite.
    pub async fn settle_after_bulk_load(&self) -> Result<()> {
        if self.backend == crate::Backend::Postgres {
            sqlx::query("VACUUM FULL journal_buckets, journal_counts").execute(&self.pool).await?;
            sqlx::query("VACUUM ANALYZE").execute(&self.pool).await?;
        }
        Ok(())
    }
}

/// A transaction made up by a generator.
#[derive(Debug, Clone)]
pub struct GeneratedTx {
    pub gerance_id: GeranceId,
    pub station_id: StationId,
    pub key: KeyNumber,
    pub amount: Amount,
    pub status: domain::journal::TxStatus,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub confirmed_at: Option<i64>,
    pub reloaded_at: Option<i64>,
    pub ended_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use domain::journal::TxStatus;
    use domain::{GeranceName, PhoneNumber, Timestamp, TxId};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::NewStation;
    use crate::testing::fresh;

    /// 13,000 transactions over two gérances (most in the first) and four stations: keys crowded at the
    /// bottom and spread over the whole range, amounts on round francs and not, dates over a year, most
    /// reloaded; then a few hundred queued ones cancelled through the product's own path.
    async fn journal() -> (Db, tempfile::TempDir, GeranceId) {
        let (db, dir) = fresh().await;
        let mut rng = StdRng::seed_from_u64(6);
        let mut stations = Vec::new();
        for g in 0..2 {
            let name = GeranceName::parse(&format!("Gérance {g}")).unwrap();
            let gerance_id = db.create_gerance(&name, Timestamp(1)).await.unwrap().id;
            for s in 0..2 {
                let new = NewStation {
                    gerance_id,
                    name: &format!("Station {g}{s}"),
                    place: "Sion",
                    phone: &PhoneNumber::parse(&format!("+4179000{g}{s}01")).unwrap(),
                    secret: &[7; 32],
                    max_amount: Amount::from_rappen(50_000).unwrap(),
                };
                stations.push((db.create_station(new, Timestamp(1)).await.unwrap(), gerance_id));
            }
        }
        let rows: Vec<GeneratedTx> = (0..13_000)
            .map(|i| {
                let (station_id, gerance_id) =
                    stations[if rng.gen_range(0..100) < 85 { i % 2 } else { 2 + i % 2 }];
                let status = match rng.gen_range(0..100) {
                    0..80 => TxStatus::Reloaded,
                    80..88 => TxStatus::Failed,
                    88..95 => TxStatus::Queued,
                    _ => TxStatus::Confirmed,
                };
                GeneratedTx {
                    gerance_id,
                    station_id,
                    key: KeyNumber(if rng.gen_bool(0.7) { rng.gen_range(1..300) } else { rng.r#gen() }),
                    amount: Amount::from_rappen(if rng.gen_bool(0.5) {
                        rng.gen_range(1..6) * 2_000
                    } else {
                        rng.gen_range(1..50_000)
                    })
                    .unwrap(),
                    status,
                    created_at: 1_700_000_000_000 + i as i64 * 2_400_000 + rng.gen_range(0..2_400_000),
                    sent_at: None,
                    confirmed_at: None,
                    reloaded_at: None,
                    ended_at: None,
                }
            })
            .collect();
        db.insert_generated_transactions(&rows).await.unwrap();
        let queued: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM transactions WHERE status = 'queued' ORDER BY id LIMIT 300")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        for id in queued {
            assert!(db.request_cancel(Scope::All, TxId(id), None, Timestamp(2)).await.unwrap());
        }
        let first_gerance = stations[0].1;
        (db, dir, first_gerance)
    }

    #[tokio::test]
    async fn bucket_counts_follow_every_insert_and_status_change() {
        let (db, _dir, _) = journal().await;
        let rows: Vec<(i64, i64, i64, i64, String, i64)> = sqlx::query_as(
            "SELECT id, key_number, amount_rappen, created_at, status, gerance_id FROM transactions",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let mut expected = std::collections::BTreeMap::new();
        for (id, key, amount, date, status, gerance) in rows {
            for (b, value) in Buckets::ALL.iter().zip([id, key, amount, date]) {
                *expected
                    .entry((b.name.to_string(), value / b.width, status.clone(), gerance))
                    .or_insert(0) += 1;
            }
        }
        let kept: Vec<(String, i64, String, i64, i64)> =
            sqlx::query_as("SELECT sort_by, bucket, status, gerance_id, n FROM journal_buckets WHERE n <> 0")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        let kept: std::collections::BTreeMap<_, i64> =
            kept.into_iter().map(|(s, b, st, g, n)| ((s, b, st, g), n)).collect();
        assert_eq!(kept, expected);
        let cancelling = JournalFilter { status: Some(TxStatus::Cancelling), ..JournalFilter::default() };
        assert_eq!(db.journal_total(Scope::All, &cancelling).await.unwrap(), 300);
    }

    #[tokio::test]
    async fn the_reloaded_sum_of_a_view_is_the_sum_of_its_reloaded_rows() {
        let (db, _dir, gerance) = journal().await;
        let naive = |scope: Scope, filter: JournalFilter| {
            let db = db.clone();
            async move {
                let (all, g) = scope.binds();
                sqlx::query_scalar::<_, i64>(
                    "SELECT CAST(COALESCE(SUM(amount_rappen), 0) AS BIGINT) FROM transactions t WHERE status = 'reloaded'
                     AND ($1 OR gerance_id = $2) AND ($3 IS NULL OR station_id = $3)
                     AND ($4 IS NULL OR key_number = $4) AND ($5 IS NULL OR created_at >= $5)",
                )
                .bind(all)
                .bind(g)
                .bind(filter.station.map(StationId::get))
                .bind(filter.key.map(i64::from))
                .bind(filter.from.map(|t| t.millis()))
                .fetch_one(&db.pool)
                .await
                .unwrap()
            }
        };
        let station: i64 =
            sqlx::query_scalar("SELECT MIN(id) FROM stations").fetch_one(&db.pool).await.unwrap();
        let all = JournalFilter::default;
        let filters = [
            all(),
            JournalFilter { station: Some(StationId(station)), ..all() },
            JournalFilter { key: Some(KeyNumber(7)), ..all() },
            JournalFilter { from: Some(Timestamp(1_710_000_000_000)), ..all() },
            JournalFilter { status: Some(TxStatus::Reloaded), ..all() },
        ];
        // Kept through inserts and through status changes (a queued top-up confirmed, then reloaded).
        let queued: i64 =
            sqlx::query_scalar("SELECT id FROM transactions WHERE status = 'queued' ORDER BY id DESC")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        sqlx::query("UPDATE transactions SET status = 'reloaded' WHERE id = $1")
            .bind(queued)
            .execute(&db.pool)
            .await
            .unwrap();
        for scope in [Scope::All, Scope::Gerance(gerance)] {
            for filter in &filters {
                let kept = db.journal_reloaded(scope, filter).await.unwrap().rappen();
                assert!(kept > 0, "{scope:?} {filter:?}");
                assert_eq!(kept, naive(scope, filter.clone()).await, "{scope:?} {filter:?}");
            }
            let failed = JournalFilter { status: Some(TxStatus::Failed), ..all() };
            assert_eq!(db.journal_reloaded(scope, &failed).await.unwrap(), Total::ZERO);
        }
    }

    #[tokio::test]
    async fn deep_pages_are_the_rows_the_plain_offset_gives() {
        let (db, _dir, gerance) = journal().await;
        let all = JournalFilter::default;
        let reloaded = JournalFilter { status: Some(TxStatus::Reloaded), ..all() };
        for (scope, filter) in [(Scope::All, all()), (Scope::Gerance(gerance), all()), (Scope::All, reloaded)]
        {
            let total = db.journal_total(scope, &filter).await.unwrap();
            for sort in JournalSort::ALL {
                for descending in [true, false] {
                    // Around the middle, at the threshold from either end, and straddling the statuses.
                    let mut offsets = vec![
                        SKIP_BY_BUCKETS_FROM,
                        total / 2 - 13,
                        total / 2,
                        total - SKIP_BY_BUCKETS_FROM - 25,
                    ];
                    let mut statuses = TxStatus::ALL;
                    statuses.sort_by_key(|s| s.as_str());
                    let mut boundary = 0;
                    for status in statuses {
                        let this = JournalFilter { status: Some(status), ..filter.clone() };
                        boundary += db.journal_total(scope, &this).await.unwrap();
                        let at = if descending { total - boundary } else { boundary };
                        offsets.push((at - 10).clamp(0, total - 1));
                    }
                    let view = JournalView { scope, filter: &filter, sort, descending };
                    for offset in offsets {
                        let fast = db.journal_page(view, offset, 25).await.unwrap();
                        let naive = db.journal_page_naive(view, offset, 25).await.unwrap();
                        assert_eq!(
                            fast, naive,
                            "{scope:?} {filter:?} {sort:?} desc {descending} at {offset}"
                        );
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn a_page_found_through_the_buckets_is_the_page_at_any_depth() {
        let (db, _dir, gerance) = journal().await;
        let filter = JournalFilter::default();
        for scope in [Scope::All, Scope::Gerance(gerance)] {
            let total = db.journal_total(scope, &filter).await.unwrap();
            for sort in JournalSort::ALL {
                let Some(buckets) = Buckets::of(sort, &filter) else { continue };
                for descending in [true, false] {
                    for skip in [0, 1, 137, 4_099, 8_191, 8_192, total - 25, total - 3] {
                        let ids = db
                            .page_ids_by_bucket(
                                JournalView { scope, filter: &filter, sort, descending },
                                buckets,
                                25,
                                skip,
                            )
                            .await
                            .unwrap();
                        let naive = db
                            .journal_page_naive(
                                JournalView { scope, filter: &filter, sort, descending },
                                skip,
                                25,
                            )
                            .await;
                        let naive: Vec<i64> = naive.unwrap().0.iter().map(|r| r.id.get()).collect();
                        assert_eq!(ids, naive, "{scope:?} {sort:?} desc {descending} skip {skip}");
                    }
                }
            }
        }
    }
}
