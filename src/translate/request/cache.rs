//! Prompt caching: the Converse request's cache points (`cachePoint` blocks in
//! `toolConfig.tools`, `system` and `messages`).
//!
//! The conversation and tools are translated with a cache point wherever the client marked
//! one (`cache_control`, `prompt_cache_breakpoint`). [`settle`] then decides what Bedrock gets,
//! so that a cache point never turns into a Bedrock 400:
//! - none for a model without prompt caching, none after tools where the model does not cache
//!   tools (Nova), none first in a list (nothing before it to cache);
//! - the configured automatic points ([`AutoCache`]: after the tools, after the system
//!   prompt, before the last user turn), unless `prompt_cache_options.mode` is `explicit`;
//! - none whose prefix is certainly below the model's minimum: fewer bytes than half its
//!   minimum token count (a token is at least one byte; the other half leaves room for what
//!   the model adds around tools and turns);
//! - at most [`MAX_CACHE_POINTS`]: the client's first (tools and system in order, then the
//!   latest messages), then the automatic ones;
//! - `ttl: "1h"` only where the model takes it, and never after a shorter one (Bedrock
//!   processes tools, then system, then messages, and refuses a longer TTL after a shorter).
//!
//! A client's cache point or TTL that is dropped is reported in `x-bedrock-ignored-params` as
//! `cache_control` / `cache_control.ttl` (or `prompt_cache_retention` /
//! `prompt_cache_options`, when the longer lifetime came from there); automatic points are
//! the gateway's own and dropped silently.

use super::{Ignored, Target};
use crate::catalog::caching::{PromptCaching, MAX_CACHE_POINTS};
use crate::converse::request::{
    CachePointBlock, ContentBlock, ConversationRole, ConverseRequest, SystemContentBlock, Tool,
};
use crate::openai::chat::{CacheRequest, CacheTtl, Message as ChatMessage};

/// Where the gateway puts cache points by itself (configuration `prompt_caching`), so that
/// plain OpenAI clients get cache hits too. `None` fields are not set at this level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AutoCache {
    pub positions: Option<CachePositions>,
    pub ttl: Option<CacheTtl>,
}

impl AutoCache {
    /// Field by field: `self`'s, else `base`'s.
    pub fn or(self, base: Self) -> Self {
        Self {
            positions: self.positions.or(base.positions),
            ttl: self.ttl.or(base.ttl),
        }
    }
}

/// The automatic positions: after the tool definitions, after the system prompt, and at the
/// end of the turn before the last user turn (the conversation so far).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CachePositions {
    pub tools: bool,
    pub system: bool,
    pub history: bool,
}

/// The cache point for a client's mark.
pub(super) fn point(ttl: Option<CacheTtl>) -> CachePointBlock {
    CachePointBlock {
        ttl: ttl.map(wire_ttl),
        ..CachePointBlock::DEFAULT
    }
}

fn wire_ttl(ttl: CacheTtl) -> &'static str {
    match ttl {
        CacheTtl::FiveMinutes => "5m",
        CacheTtl::OneHour => "1h",
    }
}

/// The TTL of a mark of `m` after `part` (`None`: after the whole message), when it has one;
/// the longest if several.
pub(super) fn marked(m: &ChatMessage, part: Option<usize>) -> Option<Option<CacheTtl>> {
    m.cache
        .iter()
        .filter(|c| c.after_part == part)
        .map(|c| c.ttl)
        .max()
}

/// The list a cache point is in, in Bedrock's processing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum List {
    Tools,
    System,
    Message(usize),
}

/// A cache point after the first `after` blocks (cache points not counted) of `list`.
#[derive(Debug, Clone, Copy)]
struct Point {
    list: List,
    after: usize,
    ttl: Option<CacheTtl>,
    client: bool,
}

/// Decides the request's cache points (see the module documentation).
pub(super) fn settle(
    body: &mut ConverseRequest,
    target: Target<'_>,
    asked: &CacheRequest,
    ignored: &mut Ignored,
) {
    let mut points = take_points(body);
    let Some(caching) = target.caching else {
        if !points.is_empty() {
            ignored.add("cache_control");
        }
        if let Some(param) = asked.longer_ttl {
            ignored.add(param);
        }
        return;
    };
    let before = points.len();
    points.retain(|p| p.after > 0 && (caching.tools || p.list != List::Tools));
    let mut dropped = points.len() < before;
    if !asked.explicit_only {
        add_automatic(&mut points, body, target.auto, caching);
    }
    points.sort_by_key(|p| (p.list, p.after, !p.client));
    points.dedup_by(|later, kept| {
        let same = (later.list, later.after) == (kept.list, kept.after);
        if same && later.client {
            kept.ttl = kept.ttl.max(later.ttl);
        }
        same
    });
    let sizes = Sizes::of(body);
    let min = u64::from(caching.min_tokens);
    points.retain(|p| {
        let long_enough = 2 * sizes.prefix(p) >= min;
        dropped |= p.client && !long_enough;
        long_enough
    });
    dropped |= cap(&mut points);
    let ttl_dropped = resolve_ttls(&mut points, caching, target.auto, asked, ignored);
    if dropped {
        ignored.add("cache_control");
    }
    if ttl_dropped {
        ignored.add("cache_control.ttl");
    }
    put_points(body, &points);
}

/// Removes every cache point from the body, returning where each was (all the client's).
fn take_points(body: &mut ConverseRequest) -> Vec<Point> {
    let mut points = Vec::new();
    let ttl = |b: &CachePointBlock| match b.ttl {
        Some("1h") => Some(CacheTtl::OneHour),
        Some(_) => Some(CacheTtl::FiveMinutes),
        None => None,
    };
    if let Some(tc) = &mut body.tool_config {
        let mut after = 0;
        tc.tools.retain(|t| match t {
            Tool::CachePoint(b) => {
                points.push(client_point(List::Tools, after, ttl(b)));
                false
            }
            Tool::ToolSpec(_) => {
                after += 1;
                true
            }
        });
    }
    let mut after = 0;
    body.system.retain(|s| match s {
        SystemContentBlock::CachePoint(b) => {
            points.push(client_point(List::System, after, ttl(b)));
            false
        }
        SystemContentBlock::Text(_) | SystemContentBlock::GuardContent(_) => {
            after += 1;
            true
        }
    });
    for (i, m) in body.messages.iter_mut().enumerate() {
        let mut after = 0;
        m.content.retain(|c| match c {
            ContentBlock::CachePoint(b) => {
                points.push(client_point(List::Message(i), after, ttl(b)));
                false
            }
            _ => {
                after += 1;
                true
            }
        });
    }
    points
}

fn client_point(list: List, after: usize, ttl: Option<CacheTtl>) -> Point {
    Point {
        list,
        after,
        ttl,
        client: true,
    }
}

/// The configured automatic points of a body without cache points.
fn add_automatic(
    points: &mut Vec<Point>,
    body: &ConverseRequest,
    auto: AutoCache,
    caching: PromptCaching,
) {
    let Some(at) = auto.positions else { return };
    let mut add = |list, after| {
        if after > 0 {
            points.push(Point {
                list,
                after,
                ttl: auto.ttl,
                client: false,
            });
        }
    };
    if at.tools && caching.tools {
        add(
            List::Tools,
            body.tool_config.as_ref().map_or(0, |t| t.tools.len()),
        );
    }
    if at.system {
        add(List::System, body.system.len());
    }
    let last_user = body
        .messages
        .iter()
        .rposition(|m| m.role == ConversationRole::User);
    if let Some(turn) = last_user.filter(|&u| at.history && u > 0).map(|u| u - 1) {
        add(List::Message(turn), body.messages[turn].content.len());
    }
}

/// Keeps at most [`MAX_CACHE_POINTS`], the client's first (tools and system in order, then
/// the latest messages), then the automatic ones in order; whether a client's was dropped.
fn cap(points: &mut Vec<Point>) -> bool {
    if points.len() <= MAX_CACHE_POINTS {
        return false;
    }
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| {
        let p = points[i];
        let rank = match p.list {
            List::Message(_) if p.client => usize::MAX - i,
            _ => i,
        };
        (!p.client, matches!(p.list, List::Message(_)), rank)
    });
    let mut keep = vec![false; points.len()];
    for &i in order.iter().take(MAX_CACHE_POINTS) {
        keep[i] = true;
    }
    let dropped_client = order[MAX_CACHE_POINTS..].iter().any(|&i| points[i].client);
    let mut k = keep.into_iter();
    points.retain(|_| k.next().unwrap_or(false));
    dropped_client
}

/// Sets each point's TTL: its own, else the automatic one (configured, for the gateway's
/// points), else the longer one the request asked for; `1h` only where the model takes it and
/// no shorter point comes before. Reports the request-wide parameter when it was not honoured;
/// returns whether a client's own `ttl` was dropped.
fn resolve_ttls(
    points: &mut [Point],
    caching: PromptCaching,
    auto: AutoCache,
    asked: &CacheRequest,
    ignored: &mut Ignored,
) -> bool {
    let longer = asked.longer_ttl.map(|_| CacheTtl::OneHour);
    let (mut shorter_seen, mut own_dropped, mut longer_used) = (false, false, false);
    for p in points.iter_mut() {
        let own = p.ttl.filter(|_| p.client);
        let configured = auto.ttl.filter(|_| !p.client);
        let want = own.or(configured).or(longer);
        let honoured = want == Some(CacheTtl::OneHour) && caching.ttl_1h && !shorter_seen;
        if honoured {
            longer_used |= own.or(configured).is_none();
        } else {
            shorter_seen = true;
            own_dropped |= own == Some(CacheTtl::OneHour);
        }
        p.ttl = honoured.then_some(CacheTtl::OneHour);
    }
    if let Some(param) = asked.longer_ttl.filter(|_| !longer_used) {
        ignored.add(param);
    }
    own_dropped
}

/// The byte sizes of the body's blocks, to bound the tokens before a cache point.
struct Sizes {
    tools: Vec<u64>,
    system: Vec<u64>,
    messages: Vec<Vec<u64>>,
}

impl Sizes {
    fn of(body: &ConverseRequest) -> Self {
        Self {
            tools: body
                .tool_config
                .iter()
                .flat_map(|t| &t.tools)
                .map(json_len)
                .collect(),
            system: body
                .system
                .iter()
                .map(|s| match s {
                    SystemContentBlock::Text(t) => t.len() as u64,
                    SystemContentBlock::GuardContent(g) => g.text.text.len() as u64,
                    SystemContentBlock::CachePoint(_) => 0,
                })
                .collect(),
            messages: body
                .messages
                .iter()
                .map(|m| {
                    m.content
                        .iter()
                        .map(|c| match c {
                            ContentBlock::Text(t) => t.len() as u64,
                            other => json_len(other),
                        })
                        .collect()
                })
                .collect(),
        }
    }

    /// Bytes before `p`, in Bedrock's order: tools, system, messages.
    fn prefix(&self, p: &Point) -> u64 {
        let sum = |v: &[u64]| v.iter().sum::<u64>();
        let upto = |v: &[u64], n: usize| sum(&v[..n.min(v.len())]);
        match p.list {
            List::Tools => upto(&self.tools, p.after),
            List::System => sum(&self.tools) + upto(&self.system, p.after),
            List::Message(i) => {
                sum(&self.tools)
                    + sum(&self.system)
                    + self.messages[..i].iter().map(|m| sum(m)).sum::<u64>()
                    + upto(&self.messages[i], p.after)
            }
        }
    }
}

/// The serialized length of a block (its size as Bedrock reads it).
fn json_len<T: serde::Serialize>(v: &T) -> u64 {
    serde_json::to_vec(v).map_or(0, |v| v.len() as u64)
}

/// Puts the points back into the body, each after its block.
fn put_points(body: &mut ConverseRequest, points: &[Point]) {
    let at = |list: List| points.iter().filter(move |p| p.list == list);
    let block = |p: &Point| point(p.ttl);
    if let Some(tc) = &mut body.tool_config {
        for p in at(List::Tools).rev() {
            tc.tools.insert(p.after, Tool::CachePoint(block(p)));
        }
    }
    for p in at(List::System).rev() {
        body.system
            .insert(p.after, SystemContentBlock::CachePoint(block(p)));
    }
    for (i, m) in body.messages.iter_mut().enumerate() {
        for p in at(List::Message(i)).rev() {
            m.content
                .insert(p.after, ContentBlock::CachePoint(block(p)));
        }
    }
}
