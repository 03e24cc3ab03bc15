/**
 * The operator endpoint in process, over real HTTP on 127.0.0.1: every path, readiness following
 * ready(), the page's security headers, the Host check, the bound on event streams; and `meshcache
 * serve` with `http` in its config, run in process through run().
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@meshcache/core/testing';
import { ClusterNode } from '@meshcache/replication';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePrometheusText, sampleValue } from '../../replication/test/prometheus-text.js';
import {
  MAX_EVENT_STREAMS,
  MAX_PIPELINED,
  type OperatorEndpoint,
  startOperatorEndpoint,
} from '../src/operator/operator-endpoint.js';
import { run } from '../src/program.js';
import { recordingIo } from './recording-io.js';

const SECRET = 'a cluster secret of 32 bytes at least';
const nodes: ClusterNode[] = [];
const endpoints: OperatorEndpoint[] = [];
afterEach(async () => {
  for (const endpoint of endpoints.splice(0)) await endpoint.close();
  for (const node of nodes.splice(0)) await node.stop();
});

async function start(name: string, peers: string[] = []) {
  const node = await ClusterNode.start({
    name,
    cluster: 'gateways',
    secret: SECRET,
    peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 1000 },
    peerDiscovery: { mode: 'manual', peers },
    caches: {
      'Response Cache': { maxElementsInMemory: 100, replication: { asynchronousReplicationIntervalMillis: 10 } },
    },
  });
  nodes.push(node);
  return node;
}

async function endpointOf(node: ClusterNode, hostname = '127.0.0.1', intervalMillis = 50) {
  const endpoint = await startOperatorEndpoint(node, { hostname, port: 0, intervalMillis });
  endpoints.push(endpoint);
  return endpoint;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with node:http (fetch will not send another Host). */
function get(
  url: string,
  options: { method?: string; host?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        agent: false, // a fresh connection each time: a pooled one would outlive a closed endpoint
        method: options.method ?? 'GET',
        headers: { ...options.headers, ...(options.host === undefined ? {} : { host: options.host }) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Reads the first `count` server-sent events of /events, then closes the stream. */
async function firstEvents(url: string, count: number): Promise<Array<{ event: string; data: string }>> {
  const controller = new AbortController();
  const response = await fetch(`${url}/events`, { signal: controller.signal });
  expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const events: Array<{ event: string; data: string }> = [];
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event !== undefined && data !== undefined) events.push({ event, data });
      end = buffer.indexOf('\n\n');
    }
  }
  controller.abort();
  return events;
}

describe('the operator endpoint', () => {
  it('serves metrics, health, readiness, the status and the page, with its security headers', async () => {
    const a = await start('gw-1');
    const b = await start('gw-2', [a.url]);
    await b.ready();
    const endpoint = await endpointOf(b);
    expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    b.manager.getCache('Response Cache')?.put('GET /orders/42', { status: 200, body: 'private' });
    b.manager.getCache('Response Cache')?.get('GET /orders/42');
    b.manager.getCache('Response Cache')?.get('GET /nothing');

    const metrics = await get(`${endpoint.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusText(metrics.body);
    expect(sampleValue(families, 'cache_gets_total', { cache: 'Response Cache', result: 'hit' })).toBe(1);
    expect(sampleValue(families, 'cache_misses_total', { cache: 'Response Cache', reason: 'notFound' })).toBe(1);
    expect(sampleValue(families, 'meshcache_peer_state', { peer: 'gw-1', state: 'connected' })).toBe(1);
    expect(families.has('process_cpu_user_seconds_total')).toBe(true); // prom-client's default metrics
    expect(metrics.body).not.toContain('GET /orders');

    expect(await get(`${endpoint.url}/healthz`)).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await get(`${endpoint.url}/readyz`)).toMatchObject({ status: 200, body: 'ready\n' });

    const status = await get(`${endpoint.url}/status`);
    expect(status.status).toBe(200);
    const parsed = JSON.parse(status.body);
    expect(parsed).toMatchObject({ node: 'gw-2', cluster: 'gateways', url: b.url, ready: true });
    expect(parsed.peers).toEqual([expect.objectContaining({ id: 'gw-1', state: 'connected', foundBy: 'manual' })]);
    expect(parsed.caches).toEqual([
      expect.objectContaining({ name: 'Response Cache', size: 1, hits: 1, misses: 1, hitRatio: 0.5, replicated: true }),
    ]);
    expect(status.body).not.toContain('GET /orders');

    const page = await get(`${endpoint.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.body).toContain('<script src="app.js" defer></script>');
    expect(page.body).not.toMatch(/<script>(?!<\/script>)/); // no inline script: the CSP would refuse it
    expect((await get(`${endpoint.url}/app.js`)).headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await get(`${endpoint.url}/app.css`)).headers['content-type']).toBe('text/css; charset=utf-8');

    const events = await firstEvents(endpoint.url, 2);
    expect(events.map((e) => e.event)).toEqual(['status', 'status']);
    expect(JSON.parse(events[1]?.data ?? '{}')).toMatchObject({ node: 'gw-2', peers: [{ id: 'gw-1' }] });

    expect(await get(`${endpoint.url}/nope`)).toMatchObject({ status: 404 });
    const post = await get(`${endpoint.url}/metrics`, { method: 'POST' });
    expect(post).toMatchObject({ status: 405, headers: expect.objectContaining({ allow: 'GET, HEAD' }) });
    expect(await get(`${endpoint.url}/healthz`, { method: 'HEAD' })).toMatchObject({ status: 200, body: '' });
  });

  it('on loopback, refuses a Host that is not a loopback name (DNS rebinding)', async () => {
    const endpoint = await endpointOf(await start('gw-1'));
    const port = new URL(endpoint.url).port;
    expect(await get(`${endpoint.url}/status`, { host: `attacker.example:${port}` })).toMatchObject({ status: 421 });
    expect(await get(`${endpoint.url}/status`, { host: `localhost:${port}` })).toMatchObject({ status: 200 });
    expect(await get(`${endpoint.url}/status`, { host: `[::1]:${port}` })).toMatchObject({ status: 200 });
  });

  it('refuses a Host name other than localhost however its listening address is spelled', async () => {
    // Loopback, spelled so that a check of the configured hostname did not know it: the Host
    // check was skipped, and a rebinding page read the node's status.
    const endpoint = await endpointOf(await start('gw-1'), '::ffff:127.0.0.1');
    const port = new URL(endpoint.url).port;
    const url = `http://127.0.0.1:${port}`;
    expect(await get(`${url}/status`, { host: `attacker.example:${port}` })).toMatchObject({ status: 421 });
    expect(await get(`${url}/status`, { host: `localhost.:${port}` })).toMatchObject({ status: 421 });
    expect(await get(`${url}/status`, { host: `127.0.0.1:${port}` })).toMatchObject({ status: 200 });
    expect(await get(`${url}/status`, { host: `[::ffff:127.0.0.1]:${port}` })).toMatchObject({ status: 200 });
  });

  it('bound to a wildcard address, refuses a rebinding Host on a connection that arrived at loopback (found by an attack)', async () => {
    // 0.0.0.0 and :: listen on loopback too: with the Host check decided by the bound address, a
    // page rebound to 127.0.0.1 read /status and /events from a browser on the node's host.
    const node = await start('gw-1');
    for (const wildcard of ['0.0.0.0', '::']) {
      const endpoint = await endpointOf(node, wildcard);
      const port = new URL(endpoint.url).port;
      const url = `http://127.0.0.1:${port}`;
      for (const path of ['/status', '/events', '/']) {
        const answer = await get(`${url}${path}`, { host: `attacker.example:${port}` });
        expect({ wildcard, path, status: answer.status, body: answer.body }).toMatchObject({ status: 421 });
        expect(answer.body).not.toContain('gw-1');
      }
      expect(await get(`${url}/status`, { host: `127.0.0.1:${port}` })).toMatchObject({ status: 200 });
      expect(await get(`${url}/healthz`, { host: `localhost:${port}` })).toMatchObject({ status: 200 });
    }
  });

  it('answers 403 to what a page of another origin asks, by Sec-Fetch-Site or else Origin, but serves a link followed to it', async () => {
    const endpoint = await endpointOf(await start('gw-1'));
    const host = new URL(endpoint.url).host;
    const fetched = (site: string, mode = 'cors', dest = 'empty') => ({
      'sec-fetch-site': site,
      'sec-fetch-mode': mode,
      'sec-fetch-dest': dest,
    });
    for (const headers of [
      fetched('cross-site'),
      fetched('same-site'),
      fetched('cross-site', 'no-cors', 'image'),
      fetched('cross-site', 'navigate', 'iframe'),
      { origin: 'http://attacker.example' },
      { origin: 'null' },
    ]) {
      const answer = await get(`${endpoint.url}/events`, { headers });
      expect({ headers, status: answer.status }).toEqual({ headers, status: 403 });
      expect(answer.headers['connection']).toBe('close');
      expect(answer.body).not.toContain('gw-1');
    }
    for (const headers of [
      {} as Record<string, string>,
      fetched('same-origin'),
      fetched('none', 'navigate', 'document'),
      fetched('cross-site', 'navigate', 'document'),
      { origin: `http://${host}` },
    ]) {
      const answer = await get(`${endpoint.url}/status`, { headers });
      expect({ headers, status: answer.status }).toEqual({ headers, status: 200 });
    }
  });

  it('closes a connection that asks for more behind an event stream, or pipelines past the bound; the node stays responsive', async () => {
    const node = await start('gw-1');
    const endpoint = await endpointOf(node);
    const port = Number(new URL(endpoint.url).port);
    const scrape = 'GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n';
    /** Sends `text` on a new connection, reading and dropping the answers; resolves when the endpoint closes it. */
    const closedAfter = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(text));
        const giveUp = setTimeout(() => {
          socket.destroy();
          reject(new Error('the connection stayed open'));
        }, 10_000);
        socket.resume();
        socket.once('error', () => {});
        socket.once('close', () => {
          clearTimeout(giveUp);
          resolve();
        });
      });
    // Behind an event stream nothing is ever answered: ten such connections with 3,000 scrapes
    // each held the event loop 30 s and grew the process to 2.5 GB. Closed at the first.
    await closedAfter(`GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n${scrape.repeat(3000)}`);
    // Node runs the handler for every request it has read, answered or not: 3,000 scrapes in
    // one go held the loop 3.4 s. Closed past MAX_PIPELINED unanswered.
    await closedAfter(scrape.repeat(3000));
    expect(await get(`${endpoint.url}/healthz`)).toMatchObject({ status: 200 });
    // A client that pipelines within the bound, and reads, gets every answer.
    const answers = await new Promise<string>((resolve, reject) => {
      let text = '';
      const health = 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n';
      const socket = connect(port, '127.0.0.1', () =>
        socket.write(`${`${health}\r\n`.repeat(MAX_PIPELINED - 1)}${health}Connection: close\r\n\r\n`),
      );
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
      });
      socket.once('error', reject);
      socket.once('close', () => resolve(text));
    });
    expect(answers.match(/HTTP\/1\.1 200/g)).toHaveLength(MAX_PIPELINED);
  });

  it('keeps at most maxConnections connections, maxConnectionsPerAddress from one host, the host holding the most giving way, so a flood can neither take the process nor lock a probe out (found by an attack)', async () => {
    const node = await start('gw-1');
    const endpoint = await startOperatorEndpoint(node, {
      hostname: '127.0.0.1',
      port: 0,
      maxConnections: 12,
      maxConnectionsPerAddress: 4,
    });
    endpoints.push(endpoint);
    const port = Number(new URL(endpoint.url).port);
    const held: Socket[] = [];
    /** A connection from `localAddress` (any 127.0.0.0/8 address is this host's), once connected. */
    const open = (localAddress: string) =>
      new Promise<{ socket: Socket; closed: Promise<void> }>((resolve) => {
        const socket = connect({ port, host: '127.0.0.1', localAddress });
        held.push(socket);
        socket.once('error', () => {});
        const closed = new Promise<void>((done) => socket.once('close', () => done()));
        socket.once('connect', () => resolve({ socket, closed }));
      });
    try {
      const first = [];
      for (let i = 0; i < 4; i++) first.push(await open('127.0.0.2'));
      await until(() => endpoint.connections === 4, 'four from one host');
      await (await open('127.0.0.2')).closed; // a fifth from it is closed as it comes
      expect(await get(`${endpoint.url}/healthz`)).toMatchObject({ status: 200 }); // another host is served
      for (const host of ['127.0.0.3', '127.0.0.4']) for (let i = 0; i < 4; i++) await open(host);
      await until(() => endpoint.connections === 12, 'the endpoint full');
      // Full: a newcomer from elsewhere is served, and the oldest of a host holding the most gives way.
      await open('127.0.1.1');
      await first[0]?.closed;
      await until(() => endpoint.connections === 12, 'the newcomer in');
      expect(await get(`${endpoint.url}/healthz`)).toMatchObject({ status: 200 });
    } finally {
      for (const socket of held) socket.destroy();
    }
    await until(() => endpoint.connections === 0, 'every connection gone');
  });

  it('closes a connection trickling its headers once headersTimeout (5 s) has passed, not at the next 30 s check (found by an attack)', async () => {
    const endpoint = await endpointOf(await start('gw-1'));
    const port = Number(new URL(endpoint.url).port);
    const socket = connect(port, '127.0.0.1', () => socket.write('GET /metrics HTTP/1.1\r\nHost: localhost\r\n'));
    socket.once('error', () => {});
    let closed = false;
    socket.once('close', () => {
      closed = true;
    });
    const trickle = setInterval(() => socket.writable && socket.write('X-A: b\r\n'), 500);
    try {
      await until(() => closed, 'the endpoint closing the connection', 9000);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  }, 15_000);

  it('answers 400 to a request target that is not a URL, not 500', async () => {
    const endpoint = await endpointOf(await start('gw-1'));
    const port = Number(new URL(endpoint.url).port);
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connect(port, '127.0.0.1', () =>
        socket.write('GET http://[bad/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
      );
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
      });
      socket.once('error', reject);
      socket.once('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
  });

  it('skips, then ends, an event stream whose page does not read, instead of buffering for it', async () => {
    // Many caches make a status of tens of kilobytes; pushed every millisecond to a client that
    // never reads, Node buffered all of it (63 MB a second with 32 such pages).
    const caches: Record<string, object> = {};
    for (let i = 0; i < 150; i++) caches[`cache number ${i} of a gateway with many`] = { maxElementsInMemory: 10 };
    const node = await ClusterNode.start({
      name: 'gw-many',
      cluster: 'gateways',
      secret: SECRET,
      peerListener: { hostname: '127.0.0.1', port: 0 },
      caches,
    });
    nodes.push(node);
    const endpoint = await endpointOf(node, '127.0.0.1', 1);
    const port = Number(new URL(endpoint.url).port);
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n');
      socket.pause();
    });
    socket.once('error', () => {});
    try {
      await until(() => endpoint.eventStreams === 1, 'the stream open');
      await until(() => endpoint.eventStreams === 0, 'the stream ended', 60_000);
      expect(await get(`${endpoint.url}/healthz`)).toMatchObject({ status: 200 });
    } finally {
      socket.destroy();
    }
  }, 90_000);

  it('answers /readyz 503 until ready() resolved, while /healthz is 200 throughout', async () => {
    // A peer that accepts and never answers: ready() waits socketTimeoutMillis for it.
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const node = await start('gw-1', [`ws://127.0.0.1:${(silent.address() as AddressInfo).port}`]);
      const endpoint = await endpointOf(node);
      let ready = false;
      const becameReady = node.ready().then(() => {
        ready = true;
      });
      const before = await get(`${endpoint.url}/readyz`);
      expect(ready).toBe(false);
      expect(before).toMatchObject({ status: 503, body: 'starting\n' });
      expect(await get(`${endpoint.url}/healthz`)).toMatchObject({ status: 200 });
      // A doubled slash (a probe path joined from a prefix that ended in one) is no path here:
      // it was read as a URL of the host "readyz" and answered with the page's 200, not ready.
      for (const path of ['//readyz', '//metrics', '//healthz']) {
        expect(await get(`${endpoint.url}${path}`)).toMatchObject({ status: 404 });
      }
      await becameReady;
      await until(async () => (await get(`${endpoint.url}/readyz`)).status === 200, '/readyz to answer 200');
      // The silent peer is still not connected: degraded, and still ready.
      expect((await get(`${endpoint.url}/readyz`)).status).toBe(200);
      expect(JSON.parse((await get(`${endpoint.url}/status`)).body).peers[0].state).not.toBe('connected');
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it(`keeps at most ${MAX_EVENT_STREAMS} event streams open`, async () => {
    const endpoint = await endpointOf(await start('gw-1'));
    const controller = new AbortController();
    try {
      const open = await Promise.all(
        Array.from({ length: MAX_EVENT_STREAMS }, () => fetch(`${endpoint.url}/events`, { signal: controller.signal })),
      );
      expect(open.every((response) => response.status === 200)).toBe(true);
      const refused = await get(`${endpoint.url}/events`);
      expect(refused).toMatchObject({ status: 503, body: 'too many pages open\n' });
    } finally {
      controller.abort();
    }
  });

  it('when every event stream is taken, closes the oldest of the host holding the most for a page from elsewhere (found by an attack)', async () => {
    // One host holding all 32 (anything that reaches an endpoint bound off loopback) kept every
    // operator's page out with 503 for as long as it liked.
    const endpoint = await endpointOf(await start('gw-1'));
    const port = Number(new URL(endpoint.url).port);
    const held: Array<{ socket: Socket; closed: Promise<void> }> = [];
    /** An event stream from `localAddress` (any 127.0.0.0/8 address is this host's), with what it received. */
    const stream = (localAddress: string) => {
      const socket = connect({ port, host: '127.0.0.1', localAddress });
      socket.once('error', () => {});
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString();
      });
      const closed = new Promise<void>((done) => socket.once('close', () => done()));
      socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      held.push({ socket, closed });
      return { closed, received: () => received };
    };
    try {
      for (let i = 0; i < MAX_EVENT_STREAMS; i++) stream('127.0.0.2');
      await until(() => endpoint.eventStreams === MAX_EVENT_STREAMS, 'every stream taken by one host');
      const page = stream('127.0.0.1');
      await until(() => page.received().includes('event: status'), 'the page from elsewhere to get its stream');
      expect(page.received()).toMatch(/^HTTP\/1\.1 200 /);
      await held[0]?.closed; // the first host's oldest gave way
      expect(endpoint.eventStreams).toBe(MAX_EVENT_STREAMS);
      // The host holding the most gets no more by asking again.
      const again = stream('127.0.0.2');
      await again.closed;
      expect(again.received()).toMatch(/^HTTP\/1\.1 503 /);
    } finally {
      for (const { socket } of held) socket.destroy();
    }
    await until(() => endpoint.eventStreams === 0, 'every stream gone');
  });
});

/** Writes gw-1's config for `meshcache serve` into `dir`, with an operator endpoint on a free port; returns its path. */
function serveConfig(dir: string, overrides: Record<string, unknown>): string {
  const config = join(dir, 'gw-1.json');
  writeFileSync(
    config,
    JSON.stringify({ name: 'gw-1', cluster: 'gateways', secret: SECRET, http: { port: 0 }, ...overrides }),
  );
  return config;
}

describe('meshcache serve with http in its config', () => {
  it('prints the endpoint, serves it while running, and closes it on SIGINT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshcache-serve-http-'));
    try {
      const config = serveConfig(dir, {
        peerListener: { hostname: '127.0.0.1', port: 0 },
        caches: { 'Response Cache': { replication: {} } },
      });
      const io = recordingIo({});
      const serving = run(['serve', '--config', config], io);
      await until(() => /listening on /.test(io.stdout()), 'serve to start', 10_000).catch((error: Error) => {
        throw new Error(`${error.message}; its stderr: ${io.stderr()}`);
      });
      const lines = io.stdout().trim().split('\n');
      expect(lines[0]).toMatch(/^operator endpoint on http:\/\/127\.0\.0\.1:\d+$/);
      expect(lines[1]).toMatch(/^listening on ws:\/\/127\.0\.0\.1:\d+$/);
      const url = (lines[0] as string).replace('operator endpoint on ', '');
      expect((await get(`${url}/readyz`)).status).toBe(200);
      io.interrupt();
      expect(await serving).toBe(0);
      await expect(get(`${url}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with a synchronous bootstrap, answers /healthz and /readyz (starting) while the caches warm, before listening on', async () => {
    // A peer that accepts and never answers: the bootstrap waits socketTimeoutMillis for it. The
    // endpoint opened only after that wait, so a liveness probe met a refused connection and
    // killed a pod that was warming its caches as asked.
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'meshcache-serve-http-'));
    try {
      const config = serveConfig(dir, {
        peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 3000 },
        peerDiscovery: { mode: 'manual', peers: [`ws://127.0.0.1:${(silent.address() as AddressInfo).port}`] },
        caches: { users: { replication: {}, bootstrap: { bootstrapAsynchronously: false } } },
      });
      const io = recordingIo({});
      const serving = run(['serve', '--config', config], io);
      await until(() => /operator endpoint on /.test(io.stdout()), 'the endpoint', 10_000);
      const url = (/operator endpoint on (\S+)/.exec(io.stdout()) as RegExpExecArray)[1] as string;
      expect(await get(`${url}/healthz`)).toMatchObject({ status: 200 });
      // The bootstrap waits 3 s for the silent peer: still starting now.
      expect(await get(`${url}/readyz`)).toMatchObject({ status: 503, body: 'starting\n' });
      expect(io.stdout()).not.toMatch(/listening on /);
      await until(
        () => /listening on /.test(io.stdout()),
        'serve to listen once the bootstrap gave up waiting',
        15_000,
      );
      expect((await get(`${url}/readyz`)).status).toBe(200);
      io.interrupt();
      expect(await serving).toBe(0);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 naming the field for a bad http, and 1 when its port is taken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshcache-serve-http-'));
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const write = (http: unknown) => {
        const file = join(dir, 'gw.json');
        writeFileSync(
          file,
          JSON.stringify({ name: 'gw-1', cluster: 'gateways', secret: SECRET, http, caches: { c: {} } }),
        );
        return file;
      };
      const bad = recordingIo({});
      expect(await run(['serve', '--config', write({ port: 'metrics' })], bad)).toBe(2);
      expect(bad.stderr()).toMatch(/option "http\.port" must be a port number/);
      const busy = recordingIo({});
      const port = (taken.address() as AddressInfo).port;
      expect(await run(['serve', '--config', write({ port })], busy)).toBe(1);
      expect(busy.stderr()).toMatch(
        new RegExp(`the operator endpoint \\(http\\) could not listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
      );
      // Nothing said it started: a supervisor watching for "listening on" is not misled (found by the review).
      expect(busy.stderr()).not.toMatch(/listening on/);
      expect(busy.stdout()).toBe('');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
