// The official TypeScript MCP SDK's client against the gateway's /mcp: a second, independent
// implementation of the protocol. Usage: node ts_client.mjs <url> <token> <calls JSON>
// (calls: [{"name", "arguments"}]). Prints one JSON document: the tools listed and, per call,
// its result or its error (code, message, data).
import path from "node:path";
import { pathToFileURL } from "node:url";

const sdk = path.join(process.env.MCP_SDK_DIR, "node_modules/@modelcontextprotocol/sdk/dist/esm");
const load = (p) => import(pathToFileURL(path.join(sdk, p)).href);
const { Client } = await load("client/index.js");
const { StreamableHTTPClientTransport } = await load("client/streamableHttp.js");

const [url, token, callsJson] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "gateway-test-ts", version: "1.0.0" });
await client.connect(transport);
const listed = await client.listTools();
const calls = [];
for (const call of JSON.parse(callsJson)) {
  try {
    calls.push({ name: call.name, result: await client.callTool(call) });
  } catch (error) {
    calls.push({ name: call.name, error: { code: error.code, message: error.message, data: error.data } });
  }
}
await transport.terminateSession();
await client.close();
console.log(JSON.stringify({ protocolVersion: transport.protocolVersion, tools: listed.tools, calls }));
