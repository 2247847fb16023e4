// The official OpenAI Node SDK as a real client of the filter: each scenario prints one JSON
// line of what the SDK handed back, for tests/e2e/test_node_sdk.py to check.
// Usage: OPENAI_BASE_URL=… OPENAI_API_KEY=… node clients.mjs <scenario>
import OpenAI from "openai";

const client = new OpenAI({ maxRetries: 0 });
const model = "gpt-4o";
const weather = {
  type: "function",
  name: "get_weather",
  description: "Current weather",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

const scenarios = {
  async chat() {
    const r = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "Say hello to Node" }],
    });
    return { content: r.choices[0].message.content, finish: r.choices[0].finish_reason, usage: r.usage };
  },
  async chat_stream() {
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "Say hello to Node" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = "";
    let usage = null;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    return { content, usage };
  },
  async responses() {
    const r = await client.responses.create({ model, input: "Say hello to Node", instructions: "Be brief." });
    return { status: r.status, output_text: r.output_text, usage: r.usage };
  },
  async responses_stream() {
    const stream = client.responses.stream({ model, input: "Say hello to Node" });
    const types = [];
    stream.on("event", (e) => types.push(e.type));
    const final = await stream.finalResponse();
    return { types, output_text: final.output_text, status: final.status };
  },
  async responses_tool_loop() {
    const input = [{ role: "user", content: "Weather in Paris? [scenario:tool]" }];
    const first = await client.responses.create({ model, input, tools: [weather] });
    const call = first.output.find((o) => o.type === "function_call");
    const second = await client.responses.create({
      model,
      tools: [weather],
      input: [...input, call, { type: "function_call_output", call_id: call.call_id, output: "sunny" }],
    });
    return { call: { name: call.name, arguments: JSON.parse(call.arguments) }, answer: second.output_text };
  },
  async embeddings() {
    const r = await client.embeddings.create({ model: "text-embedding-3-small", input: ["one", "two"] });
    return { n: r.data.length, dims: r.data.map((d) => d.embedding.length), usage: r.usage };
  },
  async error() {
    try {
      await client.chat.completions.create({ model, messages: [{ role: "user", content: "[scenario:throttle]" }] });
      return { thrown: false };
    } catch (e) {
      return { thrown: true, status: e.status, type: e.error?.type ?? e.type };
    }
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
console.log(JSON.stringify(await scenarios[name]()));
