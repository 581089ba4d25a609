// The official TypeScript MCP SDK's client against an MCP endpoint (the gateway's /mcp or an
// upstream): a second, independent implementation of the protocol. Both SDK lines, installed
// by scripts/mcp-sdk-ts into $MCP_SDK_DIR:
//   v1  @modelcontextprotocol/sdk     2025 handshake only (offers 2025-11-25)
//   v2  @modelcontextprotocol/client  versionNegotiation "legacy" (the default: the 2025
//       handshake), "auto" (server/discover, falling back to the handshake) or a pinned
//       "2026-07-28"; `protocolVersions` narrows what it offers (e.g. ["2025-06-18"]).
//
// Usage: node ts_client.mjs <url> <token> <plan JSON>
//
// A plan that is an ARRAY of calls [{"name", "arguments"}] (v1): prints {protocolVersion, tools,
// calls}, each call's result or error.
//
// A plan that is an OBJECT runs rounds:
//   {"sdk": "v1"|"v2", "negotiation": "legacy"|"auto"|"2026-07-28", "protocolVersions": [...],
//    "rounds": N, "headers": {...},
//    "tool": {"name": "read_file", "arguments": {...}},
//    "resource": {"uri": "memo://files/hello"},
//    "prompt": {"name": "greet", "arguments": {...}}}
// Each round: tools/list, tools/call, resources/list, resources/read, prompts/list, prompts/get
// (every list walks all its pages, no client cache). The tool, resource and prompt are the
// first listed whose name (URI) is the one given or ends with it, so a prefix a proxy adds
// does not matter. Prints one JSON document: {sdk, protocolVersion, era, rounds: [...],
// errors: [{round, step, code, message, data}], exchanges: [{httpMethod, mcpMethod, status,
// headers}]} where exchanges are every HTTP request the client made, in the order it made
// them, with the response's X-* headers (a load balancer's X-Served-By, say).
import path from "node:path";
import { pathToFileURL } from "node:url";

const modules = path.join(process.env.MCP_SDK_DIR, "node_modules/@modelcontextprotocol");
const load = (p) => import(pathToFileURL(path.join(modules, p)).href);

const [url, token, planJson] = process.argv.slice(2);
const plan = JSON.parse(planJson);

const exchanges = [];
async function recordingFetch(input, init) {
  const entry = { httpMethod: (init?.method ?? "GET").toUpperCase(), mcpMethod: null, status: null, headers: {} };
  if (typeof init?.body === "string") {
    try {
      const body = JSON.parse(init.body);
      entry.mcpMethod = Array.isArray(body) ? body.map((m) => m.method).join(",") : (body.method ?? null);
    } catch {
      // not JSON: leave mcpMethod null
    }
  }
  exchanges.push(entry);
  try {
    const response = await fetch(input, init);
    entry.status = response.status;
    for (const [name, value] of response.headers) {
      if (name.startsWith("x-") || name === "mcp-session-id") entry.headers[name] = value;
    }
    return response;
  } catch (error) {
    entry.error = String(error);
    throw error;
  }
}

function errorOf(error) {
  return {
    name: error?.constructor?.name,
    code: error?.code,
    message: error?.message ?? String(error),
    data: error?.data,
  };
}

async function connect(sdk, headers) {
  const requestInit = { headers: { Authorization: `Bearer ${token}`, ...headers } };
  const info = { name: `gateway-test-ts-${sdk}`, version: "1.0.0" };
  if (sdk === "v1") {
    const { Client } = await load("sdk/dist/esm/client/index.js");
    const { StreamableHTTPClientTransport } = await load("sdk/dist/esm/client/streamableHttp.js");
    const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit, fetch: recordingFetch });
    const client = new Client(info);
    await client.connect(transport);
    return {
      client,
      version: () => transport.protocolVersion,
      era: () => "legacy",
      close: async () => {
        if (transport.sessionId) await transport.terminateSession();
        await client.close();
      },
      list: (method, params) => client[method](params),
      read: (uri) => client.readResource({ uri }),
    };
  }
  const { Client, StreamableHTTPClientTransport } = await load("client/dist/index.mjs");
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit, fetch: recordingFetch });
  const negotiation = plan.negotiation ?? "legacy";
  const mode = negotiation === "legacy" || negotiation === "auto" ? negotiation : { pin: negotiation };
  const options = { versionNegotiation: { mode } };
  if (plan.protocolVersions) options.supportedProtocolVersions = plan.protocolVersions;
  const client = new Client(info, options);
  await client.connect(transport);
  return {
    client,
    version: () => client.getNegotiatedProtocolVersion(),
    era: () => client.getProtocolEra(),
    close: () => client.close(),
    // With a cursor v2 returns that page; without one it walks every page itself.
    // "refresh": always ask the server (and keep the tools index callTool reads).
    list: (method, params) => client[method](params, params ? undefined : { cacheMode: "refresh" }),
    read: (uri) => client.readResource({ uri }, { cacheMode: "bypass" }),
  };
}

async function listAll(peer, method, field) {
  const items = [];
  let cursor;
  for (let page = 0; page < 100; page++) {
    const result = await peer.list(method, cursor ? { cursor } : undefined);
    items.push(...result[field]);
    cursor = result.nextCursor;
    if (!cursor) return items;
  }
  throw new Error(`${method}: more than 100 pages`);
}

function pick(items, key, wanted) {
  const named = items.map((item) => item[key]);
  return named.find((n) => n === wanted) ?? named.find((n) => n.endsWith(wanted));
}

async function oldCalls(calls) {
  const peer = await connect("v1", {});
  const listed = await peer.client.listTools();
  const results = [];
  for (const call of calls) {
    try {
      results.push({ name: call.name, result: await peer.client.callTool(call) });
    } catch (error) {
      results.push({ name: call.name, error: errorOf(error) });
    }
  }
  await peer.close();
  return { protocolVersion: peer.version(), tools: listed.tools, calls: results };
}

async function rounds() {
  const sdk = plan.sdk ?? "v1";
  const errors = [];
  const out = { sdk, negotiation: plan.negotiation ?? "legacy", protocolVersion: null, era: null, rounds: [], errors, exchanges };
  let peer;
  try {
    peer = await connect(sdk, plan.headers ?? {});
  } catch (error) {
    errors.push({ round: null, step: "connect", ...errorOf(error) });
    return out;
  }
  out.protocolVersion = peer.version();
  out.era = peer.era();
  for (let round = 0; round < (plan.rounds ?? 1); round++) {
    const seen = { round };
    const step = async (name, fn) => {
      try {
        return await fn();
      } catch (error) {
        errors.push({ round, step: name, ...errorOf(error) });
        return undefined;
      }
    };
    const tools = await step("tools/list", () => listAll(peer, "listTools", "tools"));
    seen.tools = tools?.map((t) => t.name);
    const tool = pick(tools ?? [], "name", plan.tool.name);
    seen.call = await step("tools/call", () => {
      if (!tool) throw new Error(`no tool named like ${plan.tool.name}`);
      return peer.client.callTool({ name: tool, arguments: plan.tool.arguments ?? {} });
    });
    const resources = await step("resources/list", () => listAll(peer, "listResources", "resources"));
    seen.resources = resources?.map((r) => r.uri);
    const uri = pick(resources ?? [], "uri", plan.resource.uri);
    seen.read = await step("resources/read", () => {
      if (!uri) throw new Error(`no resource like ${plan.resource.uri}`);
      return peer.read(uri);
    });
    const prompts = await step("prompts/list", () => listAll(peer, "listPrompts", "prompts"));
    seen.prompts = prompts?.map((p) => p.name);
    const prompt = pick(prompts ?? [], "name", plan.prompt.name);
    seen.prompt = await step("prompts/get", () => {
      if (!prompt) throw new Error(`no prompt named like ${plan.prompt.name}`);
      return peer.client.getPrompt({ name: prompt, arguments: plan.prompt.arguments ?? {} });
    });
    out.rounds.push(seen);
  }
  try {
    await peer.close();
  } catch (error) {
    errors.push({ round: null, step: "close", ...errorOf(error) });
  }
  return out;
}

const result = Array.isArray(plan) ? await oldCalls(plan) : await rounds();
console.log(JSON.stringify(result));
