//! The embeddings fan-out: the request's `InvokeModel` calls go out as side calls, at most
//! `embeddings.max_in_flight` at a time, and the client is answered once every call is back
//! (in input order), or at the first failed call with that call's error, mapped as any
//! Bedrock error is. Answers that arrive after the request was answered or went away are
//! ignored, and nothing more is dispatched for it.

use std::collections::VecDeque;

use super::{Env, Flow, Phase};
use crate::error::ApiError;
use crate::headers::HeaderList;
use crate::pipeline::embeddings::EmbeddingJob;
use crate::pipeline::response::upstream_error;
use crate::pipeline::step::{Output, Reply, Step};
use crate::translate::embeddings::response;
use crate::translate::usage::TokenCounts;
use crate::upstream::Exchange;

/// Bedrock's count of the input tokens of an `InvokeModel` call.
const INPUT_TOKEN_HEADER: &str = "x-amzn-bedrock-input-token-count";

/// The calls of one request and what has come back.
#[derive(Debug)]
pub(super) struct FanOut {
    pub(super) exchange: Exchange,
    job: EmbeddingJob,
    /// Calls not dispatched yet, by index into `job.calls`.
    waiting: VecDeque<usize>,
    /// `(token, call)` of the calls out.
    in_flight: Vec<(u32, usize)>,
    /// One slot per input, filled as answers come.
    vectors: Vec<Option<Vec<f32>>>,
    input_tokens: u64,
}

impl Flow {
    /// Sends the first calls (up to the limit); the request waits for their answers.
    pub(super) fn start_fan_out(
        &mut self,
        env: &mut Env<'_>,
        job: EmbeddingJob,
        exchange: Exchange,
    ) -> Output {
        let fan = FanOut {
            exchange,
            waiting: (0..job.calls.len()).collect(),
            in_flight: Vec::new(),
            vectors: vec![None; job.inputs],
            input_tokens: 0,
            job,
        };
        self.phase = Phase::FanOut(Box::new(fan));
        match self.dispatch_waiting(env) {
            Ok(()) => Output::new(Step::Pause),
            Err(e) => self.error(e, &[]),
        }
    }

    /// Dispatches waiting calls while fewer than `max_in_flight` are out.
    fn dispatch_waiting(&mut self, env: &mut Env<'_>) -> Result<(), ApiError> {
        let limit = self
            .config
            .as_ref()
            .map_or(1, |c| c.embeddings.max_in_flight);
        let Phase::FanOut(fan) = &mut self.phase else {
            return Ok(());
        };
        while fan.in_flight.len() < limit {
            let Some(i) = fan.waiting.pop_front() else {
                break;
            };
            let call = &fan.job.calls[i].call;
            let Some(token) = env.host.dispatch(call) else {
                return Err(ApiError::service_unavailable(format!(
                    "Bedrock could not be called: cluster `{}` is not reachable.",
                    call.cluster
                )));
            };
            fan.in_flight.push((token, i));
        }
        Ok(())
    }

    /// One call's answer: stored, the next call sent; the answer built when all are back.
    pub(super) fn on_fan_out_answer(
        &mut self,
        env: &mut Env<'_>,
        token: u32,
        headers: &HeaderList,
        body: &[u8],
    ) -> Output {
        let Phase::FanOut(fan) = &mut self.phase else {
            return Output::new(Step::Pause);
        };
        let Some(pos) = fan.in_flight.iter().position(|(t, _)| *t == token) else {
            return Output::new(Step::Pause);
        };
        let (_, call) = fan.in_flight.swap_remove(pos);
        if let Err(e) = fan.store(call, headers, body) {
            log::info!("#{} embedding call {call} failed: {}", self.id, e.message);
            let retry = (e.status == 429).then(|| {
                let after = crate::pipeline::response::UPSTREAM_RETRY_AFTER;
                ("retry-after".to_string(), after.to_string())
            });
            return self.error(e, retry.as_slice());
        }
        let tokens = fan.input_tokens;
        self.outcome.tokens = Some(TokenCounts {
            uncached_input: tokens,
            ..TokenCounts::default()
        });
        if let Err(e) = self.dispatch_waiting(env) {
            return self.error(e, &[]);
        }
        match &self.phase {
            Phase::FanOut(fan) if fan.in_flight.is_empty() && fan.waiting.is_empty() => {
                self.fan_out_reply()
            }
            _ => Output::new(Step::Pause),
        }
    }

    /// Every vector is in: OpenAI's list, with the usage and limiter headers.
    fn fan_out_reply(&mut self) -> Output {
        let Phase::FanOut(fan) = std::mem::replace(&mut self.phase, Phase::Done) else {
            return Output::new(Step::Pause);
        };
        let FanOut {
            exchange,
            job,
            vectors,
            input_tokens,
            ..
        } = *fan;
        let vectors: Vec<Vec<f32>> = vectors.into_iter().map(Option::unwrap_or_default).collect();
        let list = response::to_openai(vectors, job.format, &exchange.model, input_tokens);
        let bedrock_model = exchange.bedrock_model.clone();
        self.phase = Phase::Upstream(Box::new(exchange));
        let body = match serde_json::to_vec(&list) {
            Ok(b) => b,
            Err(e) => return self.error(ApiError::internal(e.to_string()), &[]),
        };
        let mut extra: Vec<(String, String)> = self
            .limit
            .as_ref()
            .map(|(_, d)| d.headers())
            .unwrap_or_default();
        extra.push(("x-bedrock-model".into(), bedrock_model));
        let counts = self.outcome.tokens.unwrap_or_default();
        extra.extend(counts.headers().map(|(k, v)| (k.to_string(), v)));
        let mut headers = HeaderList::from_pairs([("content-type", "application/json")]);
        for (k, v) in &extra {
            headers.set(k, v);
        }
        headers.set("x-request-id", &self.request_id);
        self.replied(None);
        Output::new(Step::Reply(Reply {
            status: 200,
            headers,
            body,
        }))
    }
}

impl FanOut {
    /// Reads one call's answer into its inputs' slots.
    fn store(&mut self, call: usize, headers: &HeaderList, body: &[u8]) -> Result<(), ApiError> {
        let (first, count, estimate) = {
            let c = &self.job.calls[call];
            (c.first, c.count, c.estimate)
        };
        let status = headers.status();
        match status {
            Some(200) => {}
            Some(s) => return Err(upstream_error(s, headers.get("x-amzn-errortype"), body)),
            None => {
                return Err(ApiError::upstream_timeout(
                    "An embedding call to Bedrock failed or timed out.",
                ))
            }
        }
        let header_tokens = headers
            .get(INPUT_TOKEN_HEADER)
            .and_then(|v| v.trim().parse::<u64>().ok());
        let answer = response::read(self.job.model.family, count, body, header_tokens)?;
        let tokens = answer.input_tokens.unwrap_or(estimate);
        self.input_tokens = self.input_tokens.saturating_add(tokens);
        for (slot, v) in self.vectors[first..first + count]
            .iter_mut()
            .zip(answer.vectors)
        {
            *slot = Some(v);
        }
        Ok(())
    }
}
