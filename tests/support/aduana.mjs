// What the Node.js test suites share: the `aduana` binary on a fresh SQLite data directory,
// served on a free port, tokens issued with its key, GraphQL over HTTP. No dependencies.

import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = process.env.ADUANA_BIN ?? join(root, "target", "debug", "aduana");

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.on("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

/// A data directory with the sample reference data, and `aduana serve` on it (extra flags in
/// `serveArgs`), ready.
export async function startAduana({ prefix = "aduana-node-", serveArgs = [] } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const aduana = (...args) =>
    execFileSync(bin, [...args, "--data-dir", dataDir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  aduana("reference", "import", "--sample");
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const server = spawn(bin, ["serve", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`, ...serveArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  server.stdout.on("data", (d) => (log += d));
  server.stderr.on("data", (d) => (log += d));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${baseUrl}/ready`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (i > 300) throw new Error(`the server did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    baseUrl,
    dataDir,
    aduana,
    /// A token: `issue("--subject", "alice", "--role", "declarant", "--org", "ACME")`.
    issue: (...args) => aduana("token", "issue", ...args).trim().split("\n").pop(),
    stop() {
      server.kill("SIGTERM");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/// Runs a GraphQL operation over HTTP; fails the test on any error.
export async function graphql(baseUrl, token, query, variables = {}) {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}
