// An integrator follows aduana's event log with the npm `graphql-ws` client (a client nobody
// here wrote): it subscribes, receives events, disconnects, resumes from the last position it
// received while writers keep filing declarations, and ends with every event exactly once, in
// order, the same as the log read page by page over HTTP.
//
// The test starts its own `aduana serve` on a fresh SQLite directory (tests/support/aduana.mjs;
// ADUANA_BIN names the binary, `cargo test` passes it).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { startAduana, graphql as run } from "../support/aduana.mjs";

let aduana, baseUrl;
const tokens = {};
const graphql = (token, query, variables) => run(baseUrl, token, query, variables);

before(async () => {
  aduana = await startAduana({ prefix: "aduana-integrators-" });
  baseUrl = aduana.baseUrl;
  tokens.integrator = aduana.issue("--subject", "bank", "--role", "integrator", "--grant", "declaration");
  tokens.declarant = aduana.issue("--subject", "alice", "--role", "declarant", "--org", "ACME");
});

after(() => aduana?.stop());

const FILE = `mutation F($input: DeclarationInput!) { fileDeclaration(input: $input) { id } }`;

function filing(lrn) {
  return {
    header: { declarationType: "import", lrn, importer: "IMP42", customsOffice: "30", transportMode: "40",
      dispatchCountry: "US", incoterm: "CIF", invoiceCurrency: "USD", invoiceAmount: "1000.00" },
    items: [{ hsCode: "8471300000", description: "Portable computers", originCountry: "US", quantity: "10",
      unit: "H87", netMass: "25.5", grossMass: "30", invoiceValue: "1000.00" }],
  };
}

/// Files declarations one after another until `stop.done`.
async function writer(name, stop) {
  let n = 0;
  while (!stop.done) {
    await graphql(tokens.declarant, FILE, { input: filing(`${name}-${n++}`) });
  }
  return n;
}

/// Subscribes from `after` and collects events until `enough(events)`; then disconnects.
function follow(after, enough) {
  return new Promise((ok, fail) => {
    const client = createClient({
      url: `${baseUrl.replace("http", "ws")}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${tokens.integrator}` },
      retryAttempts: 0,
    });
    const events = [];
    const dispose = client.subscribe(
      {
        query: `subscription E($after: Position!) { events(after: $after, categories: ["declaration"]) { position streamId eventType } }`,
        variables: { after: String(after) },
      },
      {
        next: ({ data, errors }) => {
          if (errors) return fail(new Error(JSON.stringify(errors)));
          events.push(data.events);
          if (enough(events)) {
            dispose();
            client.dispose();
            ok(events);
          }
        },
        error: (error) => fail(error instanceof Error ? error : new Error(JSON.stringify(error))),
        complete: () => {},
      },
    );
  });
}

test("an integrator resumes from its last position with no gap and no duplicate while writers are busy", async () => {
  const stop = { done: false };
  const writers = [writer("W1", stop), writer("W2", stop)];
  // First connection: some events, then it goes away.
  const first = await follow(0, (events) => events.length >= 60);
  const last = Number(first[first.length - 1].position);
  // Writers go on while nobody listens; then they stop and the log's head is known.
  await new Promise((r) => setTimeout(r, 500));
  stop.done = true;
  const filed = (await Promise.all(writers)).reduce((a, b) => a + b, 0);
  const { serverInfo } = await graphql(tokens.integrator, "{ serverInfo { headPosition } }");
  const head = Number(serverInfo.headPosition);
  // Second connection: from the last position received, up to the head.
  const second = await follow(last, (events) => Number(events[events.length - 1].position) >= head);
  const received = [...first, ...second].map((e) => Number(e.position));

  // The log as read over HTTP, page by page.
  const expected = [];
  let cursor = "0";
  for (;;) {
    const { events } = await graphql(tokens.integrator, `query P($after: Position!) { events(after: $after, limit: 1000, categories: ["declaration"]) { events { position } nextAfter } }`, { after: cursor });
    expected.push(...events.events.map((e) => Number(e.position)));
    if (events.events.length < 1000) break;
    cursor = events.nextAfter;
  }
  assert.ok(filed > 10, `writers filed ${filed} declarations`);
  assert.deepEqual(received, expected, "every event once, in order, as the log holds them");
  assert.equal(new Set(received).size, received.length);
});

test("a subscription without credentials is refused by the server's guard", async () => {
  const client = createClient({ url: `${baseUrl.replace("http", "ws")}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
  const outcome = await new Promise((ok) => {
    client.subscribe(
      { query: `subscription { events { position } }` },
      { next: (value) => ok({ value }), error: (error) => ok({ error }), complete: () => ok({}) },
    );
  });
  client.dispose();
  assert.ok(Array.isArray(outcome.error), JSON.stringify(outcome));
  assert.equal(outcome.error[0].extensions.code, "UNAUTHENTICATED");
});
