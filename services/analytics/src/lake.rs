//! The data lake: append-only Parquet files, partitioned by date and
//! platform, in a local directory (`LAKE_URL=file:///…`) or object storage
//! (`s3://bucket/prefix`, credentials from the usual `AWS_*` variables).
//!
//! ```text
//! {root}/sales/date=YYYY-MM-DD/platform={client-id}/part-{partition}-{first offset}-{last offset}.parquet
//! {root}/bookings/date=YYYY-MM-DD/platform={PLATFORM_ID}/part-{partition}-{first offset}-{last offset}.parquet
//! ```
//!
//! A file counts once the checkpoint that lists it in `lake_files` has
//! committed (with the log positions it covers). A file written before a
//! crash and never listed is an orphan: it is deleted at the next start,
//! and its events are written again from the checkpoint's positions. So
//! every event is in the lake exactly once. The columns are in the README.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use ticktak_contracts::analytics::BookingEvent;

/// One ticket line of a sales message.
#[derive(Debug, Clone, PartialEq)]
pub struct SaleRow {
    pub partition: i32,
    pub offset: i64,
    /// The line's index in its message.
    pub line: i32,
    pub produced_at: DateTime<Utc>,
    /// The message's `client-id`, or `unknown`.
    pub platform_id: String,
    pub action: String,
    pub match_number: i32,
    pub category: i32,
    pub quantity: i32,
    pub price: i32,
    pub hold_id: Option<String>,
}

/// A booking event with its log position.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingRow {
    pub partition: i32,
    pub offset: i64,
    pub event: BookingEvent,
}

/// A file written, not yet listed by a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: String,
    pub dataset: &'static str,
    pub rows: i64,
}

#[derive(Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    root: Path,
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn micros(t: &[DateTime<Utc>]) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from(t.iter().map(|t| t.timestamp_micros()).collect::<Vec<_>>())
            .with_timezone("UTC"),
    )
}

fn strings<'a>(v: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

fn optional<'a>(v: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(v))
}

fn ints(v: impl Iterator<Item = i32>) -> ArrayRef {
    Arc::new(Int32Array::from_iter_values(v))
}

impl Lake {
    /// The lake at `url`: `file:///abs/path`, a relative or absolute path,
    /// `memory://` (tests of this module), or `s3://bucket/prefix`.
    pub fn open(url: &str) -> anyhow::Result<Self> {
        let (store, root): (Arc<dyn ObjectStore>, Path) = if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let s3 = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket).build()?;
            (Arc::new(s3), Path::from(prefix))
        } else if url == "memory://" {
            (Arc::new(object_store::memory::InMemory::new()), Path::from(""))
        } else {
            let dir = url.strip_prefix("file://").unwrap_or(url);
            let dir = std::path::absolute(dir)?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("cannot create the lake directory {}: {e}", dir.display()))?;
            (Arc::new(object_store::local::LocalFileSystem::new_with_prefix(&dir)?), Path::from(""))
        };
        Ok(Self { store, root })
    }

    fn path(&self, rel: &str) -> Path {
        match self.root.as_ref() {
            "" => Path::from(rel),
            root => Path::from(format!("{root}/{rel}")),
        }
    }

    /// Every Parquet file in the lake, relative to its root.
    pub async fn files(&self) -> anyhow::Result<Vec<String>> {
        let prefix = (!self.root.as_ref().is_empty()).then_some(&self.root);
        let metas: Vec<_> = self.store.list(prefix).try_collect().await?;
        let root = self.root.as_ref();
        Ok(metas
            .into_iter()
            .map(|m| m.location.to_string())
            .filter(|p| p.ends_with(".parquet"))
            .map(|p| match root {
                "" => p,
                root => p.strip_prefix(&format!("{root}/")).unwrap_or(&p).to_string(),
            })
            .collect())
    }

    /// Delete the files no checkpoint lists (written before a crash).
    pub async fn remove_orphans(&self, listed: &HashSet<String>) -> anyhow::Result<usize> {
        let mut removed = 0;
        for f in self.files().await? {
            if !listed.contains(&f) {
                self.store.delete(&self.path(&f)).await?;
                tracing::info!(file = %f, "removed a lake file no checkpoint lists");
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn put(&self, rel: String, dataset: &'static str, batch: RecordBatch) -> anyhow::Result<Written> {
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let mut buf = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
        writer.write(&batch)?;
        writer.close()?;
        self.store.put(&self.path(&rel), buf.into()).await?;
        Ok(Written { path: rel, dataset, rows: batch.num_rows() as i64 })
    }

    pub fn sales_schema() -> Schema {
        Schema::new(vec![
            Field::new("partition", DataType::Int32, false),
            Field::new("offset", DataType::Int64, false),
            Field::new("line", DataType::Int32, false),
            Field::new("produced_at", timestamp_type(), false),
            Field::new("platform_id", DataType::Utf8, false),
            Field::new("action", DataType::Utf8, false),
            Field::new("match_number", DataType::Int32, false),
            Field::new("category", DataType::Int32, false),
            Field::new("quantity", DataType::Int32, false),
            Field::new("price", DataType::Int32, false),
            Field::new("hold_id", DataType::Utf8, true),
        ])
    }

    pub fn bookings_schema() -> Schema {
        Schema::new(vec![
            Field::new("partition", DataType::Int32, false),
            Field::new("offset", DataType::Int64, false),
            Field::new("event_id", DataType::Utf8, false),
            Field::new("reservation_id", DataType::Utf8, false),
            Field::new("buyer", DataType::Utf8, false),
            Field::new("country", DataType::Utf8, true),
            Field::new("match_number", DataType::Int32, false),
            Field::new("category", DataType::Int32, false),
            Field::new("quantity", DataType::Int32, false),
            Field::new("amount", DataType::Int64, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("created_at", timestamp_type(), false),
            Field::new("at", timestamp_type(), false),
        ])
    }

    /// Write sales lines: one file per (date, platform, partition).
    pub async fn write_sales(&self, rows: &[SaleRow]) -> anyhow::Result<Vec<Written>> {
        let mut groups: BTreeMap<(String, String, i32), Vec<&SaleRow>> = BTreeMap::new();
        for r in rows {
            let date = r.produced_at.format("%Y-%m-%d").to_string();
            groups.entry((date, r.platform_id.clone(), r.partition)).or_default().push(r);
        }
        let mut written = Vec::new();
        for ((date, platform, partition), g) in groups {
            let (first, last) = (g[0].offset, g[g.len() - 1].offset);
            let columns: Vec<ArrayRef> = vec![
                ints(g.iter().map(|r| r.partition)),
                Arc::new(Int64Array::from_iter_values(g.iter().map(|r| r.offset))),
                ints(g.iter().map(|r| r.line)),
                micros(&g.iter().map(|r| r.produced_at).collect::<Vec<_>>()),
                strings(g.iter().map(|r| r.platform_id.as_str())),
                strings(g.iter().map(|r| r.action.as_str())),
                ints(g.iter().map(|r| r.match_number)),
                ints(g.iter().map(|r| r.category)),
                ints(g.iter().map(|r| r.quantity)),
                ints(g.iter().map(|r| r.price)),
                optional(g.iter().map(|r| r.hold_id.as_deref())),
            ];
            let batch = RecordBatch::try_new(Arc::new(Self::sales_schema()), columns)?;
            let rel = format!(
                "sales/date={date}/platform={}/part-{partition}-{first:020}-{last:020}.parquet",
                sanitize(&platform)
            );
            written.push(self.put(rel, "sales", batch).await?);
        }
        Ok(written)
    }

    /// Write booking events: one file per (date, partition).
    pub async fn write_bookings(&self, platform: &str, rows: &[BookingRow]) -> anyhow::Result<Vec<Written>> {
        let mut groups: BTreeMap<(String, i32), Vec<&BookingRow>> = BTreeMap::new();
        for r in rows {
            groups.entry((r.event.at.format("%Y-%m-%d").to_string(), r.partition)).or_default().push(r);
        }
        let mut written = Vec::new();
        for ((date, partition), g) in groups {
            let (first, last) = (g[0].offset, g[g.len() - 1].offset);
            let e = |r: &&BookingRow| r.event.clone();
            let events: Vec<BookingEvent> = g.iter().map(e).collect();
            let columns: Vec<ArrayRef> = vec![
                ints(g.iter().map(|r| r.partition)),
                Arc::new(Int64Array::from_iter_values(g.iter().map(|r| r.offset))),
                strings(events.iter().map(|e| e.event_id.as_str())),
                strings(events.iter().map(|e| e.reservation_id.as_str())),
                strings(events.iter().map(|e| e.buyer.as_str())),
                optional(events.iter().map(|e| e.country.as_deref())),
                ints(events.iter().map(|e| i32::from(e.match_number))),
                ints(events.iter().map(|e| i32::from(e.category))),
                ints(events.iter().map(|e| i32::from(e.quantity))),
                Arc::new(Int64Array::from_iter_values(events.iter().map(|e| i64::from(e.amount)))),
                strings(events.iter().map(|e| e.status.as_str())),
                micros(&events.iter().map(|e| e.created_at).collect::<Vec<_>>()),
                micros(&events.iter().map(|e| e.at).collect::<Vec<_>>()),
            ];
            let batch = RecordBatch::try_new(Arc::new(Self::bookings_schema()), columns)?;
            let rel = format!(
                "bookings/date={date}/platform={}/part-{partition}-{first:020}-{last:020}.parquet",
                sanitize(platform)
            );
            written.push(self.put(rel, "bookings", batch).await?);
        }
        Ok(written)
    }

    /// Every booking event in the files `listed` (relative paths).
    pub async fn read_bookings(&self, listed: &[String]) -> anyhow::Result<Vec<BookingEvent>> {
        let mut out = Vec::new();
        for rel in listed.iter().filter(|p| p.starts_with("bookings/")) {
            let bytes = self.store.get(&self.path(rel)).await?.bytes().await?;
            for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
                out.extend(bookings_of(&batch?)?);
            }
        }
        Ok(out)
    }
}

/// A platform id as a path segment (ids are letters, digits, `-`, `_`).
fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn bookings_of(batch: &RecordBatch) -> anyhow::Result<Vec<BookingEvent>> {
    fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> anyhow::Result<&'a T> {
        b.column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<T>())
            .ok_or_else(|| anyhow::anyhow!("bookings file without a usable {name} column"))
    }
    let s = |name| col::<StringArray>(batch, name);
    let i = |name| col::<Int32Array>(batch, name);
    let t = |name| col::<TimestampMicrosecondArray>(batch, name);
    let (event_id, reservation_id, buyer, country, status) =
        (s("event_id")?, s("reservation_id")?, s("buyer")?, s("country")?, s("status")?);
    let (match_number, category, quantity) = (i("match_number")?, i("category")?, i("quantity")?);
    let amount = col::<Int64Array>(batch, "amount")?;
    let (created_at, at) = (t("created_at")?, t("at")?);
    let time = |v: i64| DateTime::from_timestamp_micros(v).unwrap_or_default();
    Ok((0..batch.num_rows())
        .map(|r| BookingEvent {
            event_id: event_id.value(r).to_string(),
            reservation_id: reservation_id.value(r).to_string(),
            buyer: buyer.value(r).to_string(),
            country: (!country.is_null(r)).then(|| country.value(r).to_string()),
            match_number: match_number.value(r) as u8,
            category: category.value(r) as u8,
            quantity: quantity.value(r) as u8,
            amount: amount.value(r) as u32,
            status: status.value(r).to_string(),
            created_at: time(created_at.value(r)),
            at: time(at.value(r)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booking(i: u32, at: &str) -> BookingRow {
        let at = DateTime::parse_from_rfc3339(at).unwrap().to_utc();
        BookingRow {
            partition: 0,
            offset: i64::from(i),
            event: BookingEvent {
                event_id: format!("e{i}"),
                reservation_id: format!("r{i}"),
                buyer: "b1".into(),
                country: i.is_multiple_of(2).then(|| "AR".to_string()),
                match_number: 7,
                category: 2,
                quantity: 1,
                amount: 125,
                status: "REQUESTED".into(),
                created_at: at,
                at,
            },
        }
    }

    #[tokio::test]
    async fn bookings_are_partitioned_by_date_read_back_whole_and_orphans_go() {
        let lake = Lake::open("memory://").unwrap();
        let rows = vec![
            booking(0, "2026-11-25T23:59:00Z"),
            booking(1, "2026-11-26T00:01:00Z"),
            booking(2, "2026-11-26T08:00:00Z"),
        ];
        let written = lake.write_bookings("a", &rows).await.unwrap();
        let paths: Vec<&str> = written.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "bookings/date=2026-11-25/platform=a/part-0-00000000000000000000-00000000000000000000.parquet",
                "bookings/date=2026-11-26/platform=a/part-0-00000000000000000001-00000000000000000002.parquet"
            ]
        );
        let listed: Vec<String> = written.iter().map(|w| w.path.clone()).collect();
        let back = lake.read_bookings(&listed).await.unwrap();
        assert_eq!(back, rows.iter().map(|r| r.event.clone()).collect::<Vec<_>>());

        let keep: HashSet<String> = [listed[0].clone()].into();
        assert_eq!(lake.remove_orphans(&keep).await.unwrap(), 1);
        assert_eq!(lake.files().await.unwrap(), [listed[0].clone()]);
    }
}
