// The official TypeScript MCP SDK's client logging in to the gateway the standard way, from
// the gateway's /mcp URL alone (issue 22): its own OAuth machinery (`auth()`, driven by the
// transport's `authProvider`) reads the 401's `resource_metadata`, fetches the RFC 9728
// metadata, finds the authorization server and its metadata, registers itself dynamically
// (a public client), sends the user to the authorization URL (PKCE S256, `resource`), and
// exchanges the code. What is ours is only the `OAuthClientProvider` (in-memory storage) and
// the user's browser: `browse` follows the authorization URL through the authorization
// server's login and consent pages, naming the user on the login page as a person types a
// name (`?user=`, what tests/fixtures/hydra.py's login app reads), and stops at the redirect
// to our callback, exactly as HydraServer.authorize does in Python.
//
// Both SDK lines, installed by scripts/mcp-sdk-ts into $MCP_SDK_DIR:
//   v1  @modelcontextprotocol/sdk     (StreamableHTTPClientTransport.finishAuth(code))
//   v2  @modelcontextprotocol/client  (finishAuth(callback URL's searchParams); versionNegotiation)
//
// Usage: node ts_oauth_client.mjs <mcp url> <plan JSON>
//   plan: {"sdk": "v1"|"v2", "negotiation": "legacy"|"auto" (v2), "user": "alice",
//          "redirectUrl": "http://127.0.0.1:9/callback",
//          "clientMetadata": {...}  (more RFC 7591 metadata to register with),
//          "calls": [{"name", "arguments"}]}
// Prints one JSON document: {sdk, protocolVersion, tools, calls: [{name, result|error}],
// authorizationUrl, callback (its query), client (the registration as saved), tokens (as
// saved), exchanges: [{httpMethod, url, mcpMethod, status}], error (only when the flow
// failed: {name, code, message}, what the SDK threw)} where exchanges are every HTTP request
// the SDK made (to the gateway and to the authorization server) in order; the browser's
// requests are not among them.
import { randomBytes } from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";

const modules = path.join(process.env.MCP_SDK_DIR, "node_modules/@modelcontextprotocol");
const load = (p) => import(pathToFileURL(path.join(modules, p)).href);

const [url, planJson] = process.argv.slice(2);
const plan = JSON.parse(planJson);
const sdk = plan.sdk ?? "v1";
const redirectUrl = plan.redirectUrl ?? "http://127.0.0.1:9/callback";

const exchanges = [];
async function recordingFetch(input, init) {
  const target = input instanceof Request ? input.url : String(input);
  const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
  const entry = { httpMethod: method, url: target, mcpMethod: null, status: null };
  if (typeof init?.body === "string") {
    try {
      const body = JSON.parse(init.body);
      entry.mcpMethod = Array.isArray(body) ? body.map((m) => m.method).join(",") : (body.method ?? null);
    } catch {
      // a form (the token request) or not JSON: no MCP method
    }
  }
  exchanges.push(entry);
  const response = await fetch(input, init);
  entry.status = response.status;
  return response;
}

// The user's browser: a cookie jar (every server here is on 127.0.0.1, and cookies do not
// tell ports apart) and manual redirects, up to the redirect to the client's callback.
async function browse(authorizationUrl, user) {
  const jar = new Map();
  let next = String(authorizationUrl);
  for (let hop = 0; hop < 20; hop++) {
    if (next.startsWith(redirectUrl)) return next;
    const page = new URL(next);
    if (user && page.searchParams.has("login_challenge")) page.searchParams.set("user", user);
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
    const response = await fetch(page, { redirect: "manual", headers: cookie ? { cookie } : {} });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";");
      const cut = pair.indexOf("=");
      const name = pair.slice(0, cut).trim();
      const gone = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (gone) jar.delete(name);
      else jar.set(name, pair.slice(cut + 1));
    }
    if (response.status !== 302 && response.status !== 303) {
      throw new Error(`browser: GET ${page.pathname} answered ${response.status}: ${(await response.text()).slice(0, 500)}`);
    }
    next = new URL(response.headers.get("location"), page).href;
  }
  throw new Error(`browser: more than 20 redirects, at ${next}`);
}

// An in-memory OAuthClientProvider for one session with one MCP server.
class TestProvider {
  constructor(user) {
    this.user = user;
    this.client = undefined;
    this.saved = undefined;
    this.verifier = undefined;
    this.expectedState = undefined;
    this.authorizationUrl = undefined;
    this.callbackUrl = undefined;
    this.discovered = undefined;
  }
  get redirectUrl() {
    return redirectUrl;
  }
  get clientMetadata() {
    return {
      client_name: `gateway-test-ts-${sdk}`,
      redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      ...(plan.clientMetadata ?? {}),
    };
  }
  state() {
    this.expectedState = randomBytes(16).toString("hex");
    return this.expectedState;
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(information) {
    this.client = information;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens) {
    this.saved = tokens;
  }
  // Kept with the code verifier (v2 checks at the callback that the code comes from the
  // authorization server it sent the user to, SEP-2352).
  saveDiscoveryState(state) {
    this.discovered = state;
  }
  discoveryState() {
    return this.discovered;
  }
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }
  codeVerifier() {
    if (!this.verifier) throw new Error("no code verifier saved");
    return this.verifier;
  }
  async redirectToAuthorization(authorizationUrl) {
    this.authorizationUrl = authorizationUrl.href;
    this.callbackUrl = await browse(authorizationUrl, this.user);
  }
}

function errorOf(error) {
  return { name: error?.constructor?.name, code: error?.code, message: error?.message ?? String(error), data: error?.data };
}

async function sdkClasses() {
  if (sdk === "v1") {
    const { Client } = await load("sdk/dist/esm/client/index.js");
    const { StreamableHTTPClientTransport } = await load("sdk/dist/esm/client/streamableHttp.js");
    const { UnauthorizedError } = await load("sdk/dist/esm/client/auth.js");
    return { Client, StreamableHTTPClientTransport, UnauthorizedError };
  }
  const { Client, StreamableHTTPClientTransport, UnauthorizedError } = await load("client/dist/index.mjs");
  return { Client, StreamableHTTPClientTransport, UnauthorizedError };
}

const info = { name: `gateway-test-ts-${sdk}`, version: "1.0.0" };

function newClient(Client) {
  if (sdk === "v1") return new Client(info);
  const negotiation = plan.negotiation ?? "legacy";
  const mode = negotiation === "legacy" || negotiation === "auto" ? negotiation : { pin: negotiation };
  return new Client(info, { versionNegotiation: { mode } });
}

async function main() {
  const { Client, StreamableHTTPClientTransport, UnauthorizedError } = await sdkClasses();
  const provider = new TestProvider(plan.user);
  const out = { sdk, negotiation: plan.negotiation ?? null, exchanges };
  try {
    await session(Client, StreamableHTTPClientTransport, UnauthorizedError, provider, out);
  } catch (error) {
    out.error = errorOf(error);
  }
  out.authorizationUrl = provider.authorizationUrl;
  out.client = provider.client;
  out.tokens = provider.saved;
  return out;
}

async function session(Client, StreamableHTTPClientTransport, UnauthorizedError, provider, out) {
  const transportFor = () =>
    new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: recordingFetch });
  let client = newClient(Client);
  let transport = transportFor();
  try {
    await client.connect(transport);
  } catch (error) {
    // The first connection meets the 401: the SDK discovered, registered and sent the user to
    // the authorization URL (redirectToAuthorization), then reported "not yet authorized".
    if (!(error instanceof UnauthorizedError) || !provider.callbackUrl) throw error;
    const callback = new URL(provider.callbackUrl).searchParams;
    out.callback = Object.fromEntries(callback);
    if (callback.get("error")) throw new Error(`authorization refused: ${callback.get("error")}: ${callback.get("error_description")}`);
    // The SDK leaves `state` to the application (CSRF): it must be the one we sent.
    if (callback.get("state") !== provider.expectedState) throw new Error("state mismatch in the callback");
    await (sdk === "v1" ? transport.finishAuth(callback.get("code")) : transport.finishAuth(callback));
    client = newClient(Client);
    transport = transportFor();
    await client.connect(transport);
  }
  out.protocolVersion = sdk === "v1" ? transport.protocolVersion : client.getNegotiatedProtocolVersion();
  out.tools = (await client.listTools()).tools.map((t) => t.name);
  out.calls = [];
  for (const call of plan.calls ?? []) {
    try {
      out.calls.push({ name: call.name, result: await client.callTool(call) });
    } catch (error) {
      out.calls.push({ name: call.name, error: errorOf(error) });
    }
  }
  await client.close();
}

console.log(JSON.stringify(await main()));
