//! ConverseStream bytes in → OpenAI SSE bytes out.
