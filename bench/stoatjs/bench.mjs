// stoat.js as a peer of `ermine bench` (package bench/suite): one run of the official client
// against the benchmark's frame server (bench/server), counted by the same rule as the Go bots.
//
// Usage: node [--experimental-websocket] [--expose-gc] bench.mjs '<run spec JSON>'
//
// The spec is bench/measure.Spec: url (the events URL), token, expect (messageCreate handler
// calls to wait for; 0: stop once ready), handler (noop | cpu10us | wait1ms), latency and warmup
// (record stamp → handler-start latency after the first warmup calls), memory (RSS and heap after
// GC, cached counts), timeout_ms. It prints JSON lines on stdout: {"progress": n} every 250 ms,
// then {"result": {...}} (bench/measure.Report); other stdout lines (stoat.js logs) are ignored
// by the reader. It exits when its standard input closes (the parent went away).
import { Client } from "stoat.js";

const spec = JSON.parse(process.argv[2] ?? "{}");
if (!spec.url) {
  console.error("usage: node bench.mjs '<run spec JSON>'");
  process.exit(2);
}
if (typeof WebSocket === "undefined") {
  console.error("no global WebSocket: run Node 20 with --experimental-websocket");
  process.exit(2);
}

// process.hrtime is CLOCK_MONOTONIC on Linux, the clock the server writes into each message.
const now = () => process.hrtime.bigint();
const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const start = now();
let first = 0n, last = 0n, readyAt = 0n, begun = 0, handled = 0, finished = false, timedOut = false;
const latencies = spec.latency ? new Float64Array(Math.max(0, spec.expect)) : null;
let nLatencies = 0;

process.stdin.on("end", () => process.exit(1));
process.stdin.on("error", () => process.exit(1));
process.stdin.resume();
process.on("unhandledRejection", (e) => console.error("unhandled rejection:", e));

const http = "http://" + new URL(spec.url).host;
// The instance configuration, as the API root would give it; passing it skips GET /.
const configuration = {
  revolt: "0.8.8",
  features: {
    captcha: { enabled: false, key: "" }, email: false, invite_only: false,
    autumn: { enabled: false, url: "" }, january: { enabled: false, url: "" }, voso: { enabled: false, url: "", ws: "" },
  },
  ws: spec.url, app: http, vapid: "", build: { commit_sha: "", commit_timestamp: "", semver: "", origin_url: "", timestamp: "" },
};
// eagerFetching off: the frame server has no REST API (and ermine fetches nothing either).
const client = new Client({ baseURL: http, autoReconnect: false, eagerFetching: false }, configuration);

function percentile(sorted, q) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))];
}

function finish() {
  if (finished) return;
  finished = true;
  const report = { handled, seconds: 0, rate: 0, ready_seconds: 0 };
  if (first > 0n && last > first) {
    report.seconds = Number(last - first) / 1e9;
    report.rate = handled / report.seconds;
  }
  if (readyAt > 0n) report.ready_seconds = Number(readyAt - start) / 1e9;
  if (latencies) {
    const sorted = latencies.subarray(0, nLatencies).sort();
    report.latency = {
      count: nLatencies, p50_us: percentile(sorted, 50), p99_us: percentile(sorted, 99),
      p999_us: percentile(sorted, 99.9), max_us: nLatencies ? sorted[nLatencies - 1] : 0,
    };
  }
  if (spec.memory && !timedOut) {
    if (globalThis.gc) { globalThis.gc(); globalThis.gc(); }
    const mem = process.memoryUsage();
    report.rss = mem.rss;
    report.heap = mem.heapUsed;
    report.cached = {
      messages: client.messages.size(), users: client.users.size(), members: client.serverMembers.size(),
      channels: client.channels.size(), servers: client.servers.size(),
    };
  }
  if (timedOut) report.timed_out = true;
  client.events.disconnect();
  process.stdout.write(JSON.stringify({ result: report }) + "\n", () => process.exit(0));
}

function done() {
  last = now();
  handled++;
  if (handled === spec.expect) finish();
}

client.on("ready", () => {
  if (readyAt === 0n) {
    readyAt = now();
    if (first === 0n) first = readyAt;
  }
  if (!spec.expect) finish();
});
client.on("messageCreate", (m) => {
  const t = now();
  if (first === 0n) first = t;
  begun++;
  if (latencies && begun > (spec.warmup ?? 0)) {
    const s = m.content.slice(0, 19);
    if (/^\d{19}$/.test(s) && s !== "0000000000000000000") latencies[nLatencies++] = Number(t - BigInt(s)) / 1000;
  }
  switch (spec.handler) {
    case "cpu10us": {
      const end = t + 10000n;
      while (now() < end);
      done();
      break;
    }
    case "wait1ms":
      setTimeout(done, 1);
      break;
    default:
      done();
  }
});
client.on("disconnected", () => {
  if (!finished) {
    print({ error: `disconnected after ${handled} messageCreate handler calls` });
    process.exit(1);
  }
});
client.on("error", (e) => console.error("stoat.js error:", e?.message ?? e));

setInterval(() => print({ progress: handled }), 250).unref();
setTimeout(() => {
  timedOut = true;
  finish();
}, spec.timeout_ms || 600000).unref();

await client.loginBot(spec.token);
