/**
 * The operator endpoint of real `meshcache serve` processes on 127.0.0.1, as an operator meets
 * it: /metrics scraped and parsed after writes through the admin protocol, and the live page
 * opened in a real headless Chromium (Debian's package, driven by playwright-core; installed by
 * scripts/install-system-deps.sh, which `npm test` and CI run first), its peers table seen to
 * change when a peer is killed with SIGKILL, and the page saying so when its own node goes.
 *
 * Without Chromium (a contributor's machine where the install script could not install it) the
 * browser test says why in one line and does not run; in CI (CI set) a missing browser fails it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { until as poll } from '@meshcache/core/testing';
import { AdminClient, ClusterNode } from '@meshcache/replication';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOperatorEndpoint } from '../packages/cli/src/operator/operator-endpoint.js';
import { parsePrometheusText, sampleValue } from '../packages/replication/test/prometheus-text.js';
import { RedisServer } from '../packages/replication/test/redis-server.js';

const BIN = fileURLToPath(new URL('../packages/cli/src/bin.ts', import.meta.url));
const NODE_ARGS = ['--conditions=@meshcache/source', '--import', 'tsx', BIN];
const SECRET = 'a cluster secret of at least 32 bytes';
const CHROMIUM = process.env['MESHCACHE_CHROMIUM'] ?? '/usr/bin/chromium';
/** The flags of a quiet, throwaway browser: no sandbox (root in CI), no GPU, nothing phoned home. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Made when a test runs (a file whose tests are all skipped runs no hook, and would leave it behind).
let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshcache-operator-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Served {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  readonly http: string | undefined;
}
const running: ChildProcess[] = [];
const contexts: BrowserContext[] = [];
const clients: AdminClient[] = [];
const servers: Server[] = [];
/** In-process nodes and endpoints, stopped in this order. */
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const context of contexts.splice(0)) await context.close(); // ends the browser it launched
  for (const stop of stops.splice(0)) await stop();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const child of running.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
});

/** `meshcache serve` on a config of its own (port 0); with `http`, its operator endpoint on port 0 too. */
async function serve(name: string, peers: string[], http: boolean): Promise<Served> {
  const config = join(dir, `${name}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      name,
      cluster: 'gateways',
      secret: SECRET,
      peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 1000 },
      peerDiscovery: { mode: 'manual', peers },
      ...(http ? { http: { hostname: '127.0.0.1', port: 0 } } : {}),
      caches: {
        'Response Cache': { maxElementsInMemory: 1000, replication: { asynchronousReplicationIntervalMillis: 10 } },
        'local only': {},
      },
    }),
  );
  const child = spawn(process.execPath, [...NODE_ARGS, 'serve', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  let endpoint: string | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`serve ${name} exited with ${code}: ${log}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const operator = /^operator endpoint on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (operator?.[1] !== undefined) endpoint = operator[1];
      const listening = /^listening on (ws:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (listening?.[1] !== undefined) resolve(listening[1]);
    });
  });
  return { name, child, url, http: endpoint };
}

/** A browser launched for one test, closed after it. */
async function browser(): Promise<BrowserContext> {
  const context = await chromium.launchPersistentContext(mkdtempSync(join(dir, 'chromium-profile-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  contexts.push(context);
  return context;
}

async function admin(node: Served): Promise<AdminClient> {
  const client = await AdminClient.connect(node.url, { secret: SECRET });
  clients.push(client);
  return client;
}

const until = <T>(check: () => Promise<T | undefined | false>, what: string, timeoutMillis = 15_000) =>
  poll(check, what, { timeoutMillis, intervalMillis: 50 });

async function scrape(node: Served) {
  const response = await fetch(`${node.http}/metrics`);
  expect(response.status).toBe(200);
  return parsePrometheusText(await response.text());
}

async function kill(node: Served): Promise<void> {
  node.child.kill('SIGKILL');
  if (node.child.exitCode === null && node.child.signalCode === null) {
    await new Promise((resolve) => node.child.once('exit', resolve));
  }
}

describe('the operator endpoint of meshcache serve processes', () => {
  it('serves /metrics that follow real writes and replication, and /readyz once ready', async () => {
    const b = await serve('gw-2', [], false);
    const a = await serve('gw-1', [b.url], true);
    expect(a.http).toBeDefined();
    expect((await fetch(`${a.http}/readyz`)).status).toBe(200);
    const [onA, onB] = [await admin(a), await admin(b)];
    for (let i = 0; i < 20; i++) await onA.put('Response Cache', `GET /orders/${i}`, { status: 200, i });
    // Removed once it has arrived, so that the put and the removal are two changes (a queue coalesces by key).
    await until(async () => (await onB.get('Response Cache', 'GET /orders/0')).found, 'the first put to reach gw-2');
    await onA.remove('Response Cache', 'GET /orders/0');
    await onB.put('Response Cache', 'GET /from-b', { status: 200 });
    await until(async () => (await onA.get('Response Cache', 'GET /from-b')).found, 'gw-2’s put to reach gw-1');
    await until(async () => !(await onB.get('Response Cache', 'GET /orders/0')).found, 'the removal to reach gw-2');

    const families = await until(async () => {
      const scraped = await scrape(a);
      return sampleValue(scraped, 'meshcache_peer_queued_changes', { peer: 'gw-2' }) === 0 ? scraped : undefined;
    }, 'gw-1’s queue to gw-2 to drain');
    const cache = { cache: 'Response Cache' };
    expect(sampleValue(families, 'cache_puts_total', cache)).toBe(21); // 20 here, one from gw-2
    expect(sampleValue(families, 'cache_removals_total', cache)).toBe(1);
    expect(sampleValue(families, 'cache_size', cache)).toBe(20);
    expect(sampleValue(families, 'cache_size', { cache: 'local only' })).toBe(0);
    expect(sampleValue(families, 'meshcache_cache_tombstones', cache)).toBe(1);
    expect(sampleValue(families, 'meshcache_peer_changes_sent_total', { peer: 'gw-2' })).toBe(21);
    expect(sampleValue(families, 'meshcache_peer_changes_received_total', { peer: 'gw-2' })).toBe(1);
    expect(sampleValue(families, 'meshcache_cache_changes_applied_total', cache)).toBe(1);
    expect(sampleValue(families, 'meshcache_peer_lag_seconds', { peer: 'gw-2' })).toBeGreaterThanOrEqual(0);
    expect(sampleValue(families, 'meshcache_peer_state', { peer: 'gw-2', state: 'connected' })).toBe(1);
    expect(sampleValue(families, 'meshcache_node_ready')).toBe(1);
    expect(sampleValue(families, 'meshcache_node_info', { node: 'gw-1', cluster: 'gateways' })).toBe(1);
  }, 60_000);

  const browserThere = existsSync(CHROMIUM);
  if (!browserThere && process.env['CI'] === undefined) {
    console.warn(
      `operator-page: the browser test did not run: no Chromium at ${CHROMIUM} (scripts/install-system-deps.sh installs it as root on Debian; CI always runs it)`,
    );
  }
  it.skipIf(!browserThere && process.env['CI'] === undefined)(
    'shows the cluster live in a real browser: the peers table changes when a peer is killed',
    async () => {
      expect(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: run scripts/install-system-deps.sh as root`).toBe(true);
      const b = await serve('gw-2', [], false);
      const c = await serve('gw-3', [], false);
      const a = await serve('gw-1', [b.url, c.url], true);
      const context = await browser();
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text()); // a CSP refusal shows here
      });
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(`${a.http}/`);

      const stateOf = async (peer: string) => {
        const badge = page.locator(`#peers tr[data-peer="${peer}"] .state`);
        return (await badge.count()) === 1 ? await badge.getAttribute('data-state') : undefined;
      };
      await until(
        async () => (await stateOf('gw-2')) === 'connected' && (await stateOf('gw-3')) === 'connected',
        'the page to show gw-2 and gw-3 connected',
      );
      expect(await page.locator('#node').textContent()).toBe('gw-1');
      expect(await page.locator('#cluster').textContent()).toBe('gateways');
      expect(await page.locator('#ready').getAttribute('data-ready')).toBe('true');
      expect(await page.locator('#peers tr[data-peer="gw-2"] td').nth(2).textContent()).toBe('manual');

      // Writes show in the caches table, live.
      const onA = await admin(a);
      for (let i = 0; i < 5; i++) await onA.put('Response Cache', `GET /catalog/${i}`, { status: 200 });
      const sizeCell = page.locator('#caches tr[data-cache="Response Cache"] td').nth(1);
      await until(async () => (await sizeCell.textContent()) === '5', 'the page to show 5 entries');

      // A peer killed: its row changes state; the other stays connected.
      await kill(c);
      await until(async () => {
        const state = await stateOf('gw-3');
        return state === 'down' || state === 'connecting';
      }, 'the page to show gw-3 no longer connected');
      expect(await stateOf('gw-2')).toBe('connected');
      expect(await page.locator('#summary').textContent()).toContain('1 of 2 peers connected');

      // The page's own node killed: the page says the connection is lost (and keeps retrying).
      await kill(a);
      await until(
        async () => (await page.locator('#live').getAttribute('data-live')) === 'false',
        'the page to notice its node went',
      );
      expect(await page.locator('#live').textContent()).toContain('connection to the node lost');
      expect(problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(p))).toEqual([]);
    },
    90_000,
  );

  it.skipIf(!browserThere && process.env['CI'] === undefined)(
    'answers a page of another site 403, so that its EventSources hold no stream; a link to the page still opens it (found by an attack)',
    async () => {
      expect(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: run scripts/install-system-deps.sh as root`).toBe(true);
      // In process, to see the streams the endpoint holds.
      const node = await ClusterNode.start({
        name: 'gw-1',
        cluster: 'gateways',
        secret: SECRET,
        peerListener: { hostname: '127.0.0.1', port: 0 },
        peerDiscovery: { mode: 'manual', peers: [] },
        caches: { 'Response Cache': {} },
      });
      stops.push(() => node.stop());
      const endpoint = await startOperatorEndpoint(node, { hostname: '127.0.0.1', port: 0 });
      stops.unshift(() => endpoint.close());
      const sources = 12; // twice what Chromium opens at once to one host and port
      // The attacker's page: of the site "localhost", where the endpoint is of the site "127.0.0.1".
      const attacker = createServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        response.end(`<!doctype html><a id="link" href="${endpoint.url}/">the node</a><script>
          window.sources = [];
          for (let i = 0; i < ${sources}; i++) window.sources.push(new EventSource('${endpoint.url}/events?' + i));
        </script>`);
      });
      servers.push(attacker);
      await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
      const page = await (await browser()).newPage();
      await page.goto(`http://localhost:${(attacker.address() as AddressInfo).port}/`);
      // Answered 200, a stream failed CORS in the page, but Chromium held it open, its connection
      // with it, for seconds: six at a time, all it opens to one host and port, and a page that
      // opened more as they failed kept six held. Pages enough held all 32 streams, or the 64
      // connections one host may hold (every client of a loopback endpoint is one host).
      let held = 0;
      await until(async () => {
        held = Math.max(held, endpoint.eventStreams);
        return page.evaluate(() =>
          (globalThis as unknown as { sources: EventSource[] }).sources.every((source) => source.readyState === 2),
        );
      }, `the attacker page's ${sources} EventSources to be refused`);
      expect(held).toBe(0);
      expect(endpoint.eventStreams).toBe(0);

      // A link followed to the page is the operator's own doing: it opens, and goes live.
      await page.click('#link');
      await until(
        async () => (await page.locator('#live').getAttribute('data-live')) === 'true',
        'the page opened by a link to go live',
      );
      expect(await page.locator('#node').textContent()).toBe('gw-1');
      expect(endpoint.eventStreams).toBe(1);
    },
    60_000,
  );

  it.skipIf(!browserThere && process.env['CI'] === undefined)(
    'shows a Redis backplane apart from the peers, with its state, and why it is down once Redis goes',
    async () => {
      expect(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: run scripts/install-system-deps.sh as root`).toBe(true);
      const redis = await RedisServer.start();
      stops.push(() => redis.close());
      const member = async (name: string) => {
        const node = await ClusterNode.start({
          name,
          cluster: 'gateways',
          secret: SECRET,
          peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 1000 },
          backplane: { type: 'redis', url: redis.url, heartbeatMillis: 200, replayWindowSeconds: 60 },
          caches: { 'Response Cache': {} },
        });
        stops.unshift(() => node.stop());
        return node;
      };
      const a = await member('gw-1');
      await member('gw-2');
      await member('gw-3');
      const endpoint = await startOperatorEndpoint(a, { hostname: '127.0.0.1', port: 0, intervalMillis: 100 });
      stops.unshift(() => endpoint.close());
      const page = await (await browser()).newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(`${endpoint.url}/`);

      // Two members and the backplane: it counted as a third peer ("2 of 3 peers connected").
      await until(
        async () =>
          (await page.locator('#summary').textContent()) === '2 of 2 peers connected · backplane connected · 1 caches',
        'the page to show both members and the backplane connected',
      );
      const rows = await page
        .locator('#peers tbody tr')
        .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-peer')));
      expect(rows.sort()).toEqual(['gw-2', 'gw-3']);
      expect(await page.locator('#backplane-section').isVisible()).toBe(true);
      const row = page.locator('#backplane tr[data-backplane="redis"]');
      expect(await row.locator('[data-state]').getAttribute('data-state')).toBe('connected');

      // Redis goes: the row says down, and why, as `peers` does.
      await redis.stop();
      await until(
        async () => (await row.locator('[data-state]').getAttribute('data-state')) === 'down',
        'the page to show the backplane down',
      );
      // Read in one go: the page redraws every 100 ms, and the reason moves on from "lost" to the
      // refused reconnection between two reads (one fresh-clone CI run in this stop).
      const [reason, text] = await row
        .locator('[data-reason]')
        .evaluate((cell) => [cell.getAttribute('data-reason'), cell.textContent] as const);
      expect(reason).toMatch(/^(connection to Redis lost|Redis unreachable: connect ECONNREFUSED 127\.0\.0\.1:\d+)$/);
      expect(text).toContain(reason as string);
      expect(problems).toEqual([]);
    },
    60_000,
  );
});
