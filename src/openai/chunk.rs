//! `chat.completion.chunk` objects (OpenAPI `CreateChatCompletionStreamResponse`).
