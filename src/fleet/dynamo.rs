//! The DynamoDB wire format (JSON 1.0 protocol: `x-amz-target: DynamoDB_20120810.<Op>`): the
//! bodies of the three calls the fleet makes, and what their answers say.
//!
//! Items (table keys `pk` and `sk`, both strings; TTL attribute `expires_at`):
//! - a rate-limit window: `pk = rl|{region}|{tenant}|{model}`, `sk = {minute}`, one attribute
//!   `w_{writer}` = `{r, t}` per writer (its absolute counts in that minute);
//! - a writer's usage: `pk = usage|{tenant}|{window_start}`, `sk = {writer}`, with `seq` and
//!   `models` = `{model: {requests, errors, input_tokens, output_tokens, cache_read_tokens,
//!   cache_write_tokens, region}}` (absolute totals in that window).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::accounting::usage::ModelUsage;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "DynamoDB_20120810.";
/// Prefix of a writer's attribute in a rate-limit item.
const WRITER_ATTR: &str = "w_";

/// One store call before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCall {
    /// The operation: `UpdateItem` or `Query`.
    pub operation: &'static str,
    pub body: Vec<u8>,
}

impl StoreCall {
    /// `x-amz-target`.
    pub fn target(&self) -> String {
        format!("{TARGET_PREFIX}{}", self.operation)
    }
}

/// Requests and tokens one writer counted in one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub tokens: u64,
}

impl Counts {
    pub fn plus(self, o: Counts) -> Counts {
        Counts {
            requests: self.requests.saturating_add(o.requests),
            tokens: self.tokens.saturating_add(o.tokens),
        }
    }
}

/// One model's usage by one writer, with the region it was called in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionUsage {
    pub usage: ModelUsage,
    pub region: String,
}

/// The rate-limit item of a tenant's model in a region.
pub fn limit_pk(region: &str, tenant: &str, model: &str) -> String {
    format!("rl|{region}|{tenant}|{model}")
}

/// The usage items of a tenant's window.
pub fn usage_pk(tenant: &str, window_start: u64) -> String {
    format!("usage|{tenant}|{window_start}")
}

fn s(v: &str) -> Value {
    json!({ "S": v })
}

fn n(v: u64) -> Value {
    json!({ "N": v.to_string() })
}

fn call(operation: &'static str, body: &Value) -> StoreCall {
    StoreCall {
        operation,
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

/// Sets this writer's counts in a rate-limit window and returns the whole item (every
/// writer's counts). A retry sets the same absolute values: nothing is counted twice.
pub fn put_limit(
    table: &str,
    pk: &str,
    window: u64,
    writer: &str,
    counts: Counts,
    expires_at: u64,
) -> StoreCall {
    let body = json!({
        "TableName": table,
        "Key": {"pk": s(pk), "sk": s(&window.to_string())},
        "UpdateExpression": "SET #w = :w, #e = :e",
        "ExpressionAttributeNames": {"#w": format!("{WRITER_ATTR}{writer}"), "#e": "expires_at"},
        "ExpressionAttributeValues": {
            ":w": {"M": {"r": n(counts.requests), "t": n(counts.tokens)}},
            ":e": n(expires_at),
        },
        "ReturnValues": "ALL_NEW",
    });
    call("UpdateItem", &body)
}

/// Sets this writer's usage totals for a tenant's window, unless a write with a higher `seq`
/// already landed (then DynamoDB answers `ConditionalCheckFailedException`).
pub fn put_usage(
    table: &str,
    pk: &str,
    writer: &str,
    seq: u64,
    models: &BTreeMap<String, RegionUsage>,
    expires_at: u64,
) -> StoreCall {
    let models: Map<String, Value> = models
        .iter()
        .map(|(model, m)| {
            let u = &m.usage;
            let item = json!({"M": {
                "requests": n(u.requests),
                "errors": n(u.errors),
                "input_tokens": n(u.input_tokens),
                "output_tokens": n(u.output_tokens),
                "cache_read_tokens": n(u.cache_read_tokens),
                "cache_write_tokens": n(u.cache_write_tokens),
                "region": s(&m.region),
            }});
            (model.clone(), item)
        })
        .collect();
    let body = json!({
        "TableName": table,
        "Key": {"pk": s(pk), "sk": s(writer)},
        "UpdateExpression": "SET #q = :q, #m = :m, #e = :e",
        "ConditionExpression": "attribute_not_exists(#q) OR #q < :q",
        "ExpressionAttributeNames": {"#q": "seq", "#m": "models", "#e": "expires_at"},
        "ExpressionAttributeValues": {":q": n(seq), ":m": {"M": models}, ":e": n(expires_at)},
        "ReturnValues": "NONE",
    });
    call("UpdateItem", &body)
}

/// Every writer's usage item of a tenant's window (`start`: the previous page's
/// `LastEvaluatedKey`). Strongly consistent: a flush that was answered is seen.
pub fn query(table: &str, pk: &str, start: Option<&Value>) -> StoreCall {
    let mut body = json!({
        "TableName": table,
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": "pk"},
        "ExpressionAttributeValues": {":p": s(pk)},
        "ConsistentRead": true,
    });
    if let (Some(start), Some(obj)) = (start, body.as_object_mut()) {
        obj.insert("ExclusiveStartKey".into(), start.clone());
    }
    call("Query", &body)
}

/// What a store answer says.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 200: the answer's JSON.
    Ok(Value),
    /// `ConditionalCheckFailedException`: a newer write of this writer already landed.
    Superseded,
    /// Anything else (no answer, throttling, a missing table, an unreadable body): retried
    /// on the next tick. The text is safe to log (status and error name only).
    Failed(String),
}

/// Reads an answer; `status` is `None` when the call got none (reset, timeout).
pub fn answer(status: Option<u16>, body: &[u8]) -> Answer {
    let Some(status) = status else {
        return Answer::Failed("no answer (reset or timeout)".into());
    };
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if status == 200 {
        return match json {
            Some(v) if v.is_object() => Answer::Ok(v),
            _ => Answer::Failed("status 200 with an unreadable body".into()),
        };
    }
    // `__type` is `com.amazonaws.dynamodb.v20120810#ThrottlingException` (or the bare name).
    let name = json
        .as_ref()
        .and_then(|v| v.get("__type")?.as_str())
        .map(|t| t.rsplit('#').next().unwrap_or(t))
        .filter(|t| t.len() <= 100 && t.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("unknown error");
    if name == "ConditionalCheckFailedException" {
        return Answer::Superseded;
    }
    Answer::Failed(format!("status {status}, {name}"))
}

fn number(v: Option<&Value>) -> u64 {
    v.and_then(|v| v.get("N")?.as_str()?.parse().ok())
        .unwrap_or(0)
}

/// The sum of the other writers' counts in an `UpdateItem` answer (`ReturnValues: ALL_NEW`).
pub fn others_of(answer: &Value, writer: &str) -> Counts {
    let own = format!("{WRITER_ATTR}{writer}");
    let Some(attrs) = answer.get("Attributes").and_then(Value::as_object) else {
        return Counts::default();
    };
    attrs
        .iter()
        .filter(|(k, _)| k.starts_with(WRITER_ATTR) && **k != own)
        .filter_map(|(_, v)| v.get("M"))
        .map(|m| Counts {
            requests: number(m.get("r")),
            tokens: number(m.get("t")),
        })
        .fold(Counts::default(), Counts::plus)
}

/// One writer's usage item as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterItem {
    pub writer: String,
    pub seq: u64,
    pub models: BTreeMap<String, RegionUsage>,
}

fn writer_item(item: &Value) -> Option<WriterItem> {
    let writer = item.get("sk")?.get("S")?.as_str()?.to_string();
    let models = item
        .get("models")
        .and_then(|m| m.get("M"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(model, v)| {
            let m = v.get("M")?;
            let usage = ModelUsage {
                requests: number(m.get("requests")),
                errors: number(m.get("errors")),
                input_tokens: number(m.get("input_tokens")),
                output_tokens: number(m.get("output_tokens")),
                cache_read_tokens: number(m.get("cache_read_tokens")),
                cache_write_tokens: number(m.get("cache_write_tokens")),
            };
            let region = m.get("region").and_then(|r| r.get("S")?.as_str());
            let region = region.unwrap_or_default().to_string();
            Some((model.clone(), RegionUsage { usage, region }))
        })
        .collect();
    Some(WriterItem {
        writer,
        seq: number(item.get("seq")),
        models,
    })
}

/// One page of a `Query` answer: the writers' items, and where the next page starts.
pub fn query_page(answer: &Value) -> Result<(Vec<WriterItem>, Option<Value>), String> {
    let items = answer
        .get("Items")
        .and_then(Value::as_array)
        .ok_or("a Query answer without `Items`")?;
    let next = answer
        .get("LastEvaluatedKey")
        .filter(|v| v.is_object())
        .cloned();
    Ok((items.iter().filter_map(writer_item).collect(), next))
}
