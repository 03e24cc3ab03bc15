/**
 * The operator endpoint of `meshcache serve` (config `http`): an HTTP listener of its own, never
 * the peer port, for the people and tools that watch a node.
 *
 *   GET /metrics  Prometheus text (prom-client): registerMeshcacheMetrics, and the process's
 *                 default metrics
 *   GET /healthz  200 while the process serves
 *   GET /readyz   503 until node.ready() resolved, then 200. Nothing degraded (a full disk, a slow
 *                 or unreachable peer) ever turns it back: that shows in metrics and on the page,
 *                 because taking a node whose local caches still answer out of service would be
 *                 worse than the fault.
 *   GET /         the live page (page.ts), with /app.js and /app.css
 *   GET /status   the page's figures as JSON (status.ts)
 *   GET /events   the same every second as server-sent events
 *
 * It has no authentication, so it listens on loopback unless configured otherwise, shows no key,
 * value or secret, and a connection that arrived at a loopback address (however spelled, and
 * whatever the endpoint is bound to: a wildcard bind listens on loopback too) is answered only
 * when its Host is an IP address or `localhost` (a page elsewhere that rebinds its DNS name to
 * 127.0.0.1 gets 421; an address cannot be rebound). One that arrived at another address is
 * a Prometheus elsewhere, which may name it by any DNS name: no Host check there
 * (docs/observability.md: firewall it). A request a browser says a page of another origin
 * sent (Sec-Fetch-Site, else Origin) gets 403 and its connection closed, unless it is a link
 * followed to the page. Only GET and HEAD. At most MAX_EVENT_STREAMS pages listen at once (503
 * past it, the host holding the most giving way), each stream costs one JSON per second, and one
 * a client does not read is skipped, then closed, instead of buffered. One client cannot hold the node: a connection with more than
 * MAX_PIPELINED requests unanswered is closed (Node's server runs the handler for every request
 * it has read, whether the answers before it were taken or not: 3,000 pipelined scrapes held the
 * event loop 30 s and 2.5 GB), a request behind an event stream on its connection closes it, and
 * scrapes made within METRICS_REUSE_MILLIS of one another share one rendering. At most
 * MAX_OPERATOR_CONNECTIONS connections are open at once, MAX_OPERATOR_CONNECTIONS_PER_ADDRESS
 * from one host, the host holding the most giving way when all are taken: a flood of connections
 * can neither take the process's file descriptors (the peer port's and the CLI's with them) nor
 * lock out a probe from elsewhere.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, isIP, type Socket } from 'node:net';
import type { ClusterNode } from '@meshcache/replication';
import { ConnectionPlaces, hostOf as connectionHost } from '@meshcache/replication/internals';
import { registerMeshcacheMetrics } from '@meshcache/replication/metrics';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';
import { nodeStatus } from './status.js';

export interface OperatorEndpointOptions {
  /** @default '127.0.0.1' */
  readonly hostname?: string;
  /** 0 picks a free port. @default 9464 */
  readonly port?: number;
  /** How often /events sends the status, in ms. @default 1000 */
  readonly intervalMillis?: number;
  /**
   * A connection on which nothing moved this long is closed: one that pipelined requests and
   * reads none of the answers (Node stops reading it, and it would stay open for good). @default 30000
   */
  readonly idleTimeoutMillis?: number;
  /** Connections open at once. @default MAX_OPERATOR_CONNECTIONS */
  readonly maxConnections?: number;
  /** Connections open at once from one host (an IPv6 /64 is one). @default MAX_OPERATOR_CONNECTIONS_PER_ADDRESS */
  readonly maxConnectionsPerAddress?: number;
}

export interface OperatorEndpoint {
  /** http://host:port, with the real port. */
  readonly url: string;
  /** Connections open now, and event streams among their answers (for tests and the curious). */
  readonly connections: number;
  readonly eventStreams: number;
  /** Ends the event streams and closes the listener. Idempotent. */
  close(): Promise<void>;
}

/**
 * Pages (event streams) served at once; past it /events answers 503, unless the host holding the
 * most holds more than the newcomer's: then its oldest stream is closed to make room.
 */
export const MAX_EVENT_STREAMS = 32;
/** Requests read on one connection and not yet answered, past which the connection is closed. */
export const MAX_PIPELINED = 8;
/**
 * Connections open at once, and from one host (an IPv6 /64 is one): past its host's share a new
 * one is closed as it comes; when all are taken, the host holding the most gives up its oldest
 * (if it holds more than the newcomer's host: ConnectionPlaces, the peer port's rule too).
 * Without them a flood of idle connections took every file descriptor of the process (20,000
 * here), and with them went the peer port's new links and the CLI's admin sessions.
 */
export const MAX_OPERATOR_CONNECTIONS = 512;
export const MAX_OPERATOR_CONNECTIONS_PER_ADDRESS = 64;
/** Scrapes within this long of one another get the same text (each rendering costs milliseconds). */
const METRICS_REUSE_MILLIS = 500;
/** Bytes of events a page has not read, past which a push is skipped; after SKIPS_BEFORE_CLOSE in a row, the stream ends. */
const EVENTS_UNREAD_BYTES = 1 << 20;
const SKIPS_BEFORE_CLOSE = 30;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

/**
 * A Host that DNS rebinding cannot produce: an IP address (a browser sends the address it
 * connected to, which a rebinding page cannot choose), or `localhost`.
 */
function isUnrebindableHost(hostname: string): boolean {
  const bare = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || isIP(bare) !== 0;
}

/**
 * Whether the address a connection arrived at is a loopback one, however spelled (`::ffff:127.0.0.1`
 * and `0:0:0:0:0:0:0:1` skipped the check when the configured name was compared with `127.0.0.1`
 * and `::1`).
 */
function isLoopbackAddress(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return (mapped[1] as string).startsWith('127.');
  return isIP(address) === 6 && /^(0{0,4}:){2,7}0{0,3}1$/.test(address.replace(/^::/, '0::'));
}

/**
 * Whether a browser says a page of another site (or another origin of this one) sent the request,
 * other than by the user following a link to it: Fetch Metadata (Sec-Fetch-*) where the browser
 * sends it, else an Origin that is not this endpoint's. Tools send neither.
 */
function isFromAnotherPage(request: IncomingMessage): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined) {
    if (site === 'same-origin' || site === 'none') return false;
    return !(request.headers['sec-fetch-mode'] === 'navigate' && request.headers['sec-fetch-dest'] === 'document');
  }
  const origin = request.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== request.headers.host;
  } catch {
    return true; // "null": a sandboxed frame, a data: URL, a redirect across origins
  }
}

/** Where a connection comes from, as the limits count it: its address, an IPv6 one by its /64. */
function hostOfSocket(socket: Socket): string {
  return connectionHost(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`);
}

/** The host name of a Host header (without its port). */
function hostOf(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  if (header.startsWith('[')) return header.slice(0, header.indexOf(']') + 1);
  return header.split(':')[0];
}

/** Starts the endpoint for `node`; readiness follows node.ready(). */
export async function startOperatorEndpoint(
  node: ClusterNode,
  options: OperatorEndpointOptions = {},
): Promise<OperatorEndpoint> {
  const hostname = options.hostname ?? '127.0.0.1';
  const interval = options.intervalMillis ?? 1000;
  const startedAt = Date.now();
  let ready = false;
  void node.ready().then(
    () => {
      ready = true;
    },
    () => {},
  );
  const registry = new Registry();
  registerMeshcacheMetrics(node, registry);
  collectDefaultMetrics({ register: registry });
  let rendered: { at: number; text: Promise<string> } | undefined;
  const metrics = () => {
    const now = Date.now();
    if (rendered === undefined || now - rendered.at >= METRICS_REUSE_MILLIS)
      rendered = { at: now, text: registry.metrics() };
    return rendered.text;
  };
  /** Per connection: requests read and not yet answered, and whether one of them is an event stream. */
  const pending = new WeakMap<Socket, { unanswered: number; streaming: boolean }>();
  const streams = new Set<ServerResponse>();
  const streamPlaces = new ConnectionPlaces({ maxConnections: MAX_EVENT_STREAMS, maxPerAddress: MAX_EVENT_STREAMS });
  const sockets = new Set<Socket>();

  const send = (response: ServerResponse, status: number, type: string, body: string, head: boolean) => {
    response.writeHead(status, {
      ...SECURITY_HEADERS,
      'content-type': type,
      'content-length': Buffer.byteLength(body),
    });
    response.end(head ? undefined : body);
  };
  const text = 'text/plain; charset=utf-8';

  const events = (response: ServerResponse) => {
    // Full, the host holding the most streams gives up its oldest (each stream has a connection
    // of its own: nothing is answered behind one): one host that took all of them kept every
    // operator's page out with 503 for as long as it liked.
    const socket = response.socket;
    const release = socket === null ? undefined : streamPlaces.admit(hostOfSocket(socket), socket);
    if (release === undefined) {
      send(response, 503, text, 'too many pages open\n', false);
      return;
    }
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    const load = response.socket === null ? undefined : pending.get(response.socket);
    if (load !== undefined) load.streaming = true;
    let skipped = 0;
    const push = () => {
      // A page that does not read (a paused tab, a client that never will) is not buffered for.
      if (response.writableLength > EVENTS_UNREAD_BYTES) {
        if (++skipped >= SKIPS_BEFORE_CLOSE) response.destroy();
        return;
      }
      skipped = 0;
      response.write(`event: status\ndata: ${JSON.stringify(nodeStatus(node, ready, startedAt))}\n\n`);
    };
    response.write('retry: 1000\n\n');
    push();
    const timer = setInterval(push, interval);
    streams.add(response);
    response.on('close', () => {
      clearInterval(timer);
      streams.delete(response);
      release();
    });
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    // Judged by the address the connection arrived at, not the one bound: bound to 0.0.0.0 or ::,
    // the endpoint answered a page rebound to 127.0.0.1 whatever its Host, and read it the node's status.
    const arrivedAt = request.socket.localAddress;
    const onLoopback = arrivedAt === undefined || isLoopbackAddress(arrivedAt);
    if (onLoopback && !isUnrebindableHost(hostOf(request.headers.host) ?? '')) {
      send(
        response,
        421,
        text,
        'on loopback this endpoint answers only to a Host that is an IP address or localhost\n',
        false,
      );
      return;
    }
    if (isFromAnotherPage(request)) {
      // No page elsewhere has a use for an answer it may not read, and Chromium held an event
      // stream a page of another site opened for seconds after failing it for CORS, its
      // connection with it: a page opening more kept six held, and pages enough would hold every
      // stream, or every connection one host may have (the scrapers' on loopback).
      response.shouldKeepAlive = false;
      send(
        response,
        403,
        text,
        'only pages of this endpoint may ask it; follow a link to it or open it yourself\n',
        false,
      );
      return;
    }
    const head = request.method === 'HEAD';
    if (request.method !== 'GET' && !head) {
      response.setHeader('allow', 'GET, HEAD');
      send(response, 405, text, 'only GET and HEAD\n', false);
      return;
    }
    let path: string;
    try {
      // A path is read as a path: resolved against a base, `//readyz` is a URL of the host
      // "readyz" whose path is `/`, and a probe of it got the page's 200 while the node was not ready.
      const target = request.url ?? '/';
      path = (target.startsWith('/') ? new URL(`http://endpoint${target}`) : new URL(target, 'http://endpoint/'))
        .pathname;
    } catch {
      send(response, 400, text, 'not a request target: ask for a path, such as /metrics\n', false);
      return;
    }
    switch (path) {
      case '/metrics':
        send(response, 200, registry.contentType, await metrics(), head);
        return;
      case '/healthz':
        send(response, 200, text, 'ok\n', head);
        return;
      case '/readyz':
        send(response, ready ? 200 : 503, text, ready ? 'ready\n' : 'starting\n', head);
        return;
      case '/':
        send(response, 200, 'text/html; charset=utf-8', PAGE_HTML, head);
        return;
      case '/app.js':
        send(response, 200, 'text/javascript; charset=utf-8', PAGE_JS, head);
        return;
      case '/app.css':
        send(response, 200, 'text/css; charset=utf-8', PAGE_CSS, head);
        return;
      case '/status':
        send(response, 200, 'application/json', JSON.stringify(nodeStatus(node, ready, startedAt)), head);
        return;
      case '/events':
        if (head) send(response, 200, 'text/event-stream; charset=utf-8', '', true);
        else events(response);
        return;
      default:
        send(response, 404, text, 'not found: try /, /metrics, /healthz, /readyz\n', head);
    }
  };

  // Node enforces headersTimeout only when it checks its connections (every 30 s by default): a
  // connection trickling a header byte at a time lived 30 s, not 5.
  const limits = { requestTimeout: 10_000, headersTimeout: 5_000, connectionsCheckingInterval: 1000 };
  const server: Server = createServer(limits, (request, response) => {
    const socket = request.socket;
    const load = pending.get(socket) ?? { unanswered: 0, streaming: false };
    pending.set(socket, load);
    if (load.streaming || ++load.unanswered > MAX_PIPELINED) {
      // An event stream never ends, so nothing behind it on this connection would ever be sent;
      // and a client that pipelines more than this and reads nothing is not a browser or Prometheus.
      socket.destroy();
      return;
    }
    response.once('close', () => {
      load.unanswered--;
    });
    handle(request, response).catch((error: Error) => {
      if (!response.headersSent) send(response, 500, text, `${error.message}\n`, false);
      else response.destroy();
    });
  });
  server.maxHeadersCount = 50;
  server.timeout = options.idleTimeoutMillis ?? 30_000;
  // Counted by host (an IPv6 /64 is one): a host past its share is refused, and when the endpoint
  // is full the host holding the most gives up its oldest, so that a flood from a few hosts cannot
  // lock out a kubelet's probe or a Prometheus elsewhere.
  const places = new ConnectionPlaces({
    maxConnections: options.maxConnections ?? MAX_OPERATOR_CONNECTIONS,
    maxPerAddress: options.maxConnectionsPerAddress ?? MAX_OPERATOR_CONNECTIONS_PER_ADDRESS,
  });
  server.on('connection', (socket: Socket) => {
    const release = places.admit(hostOfSocket(socket), socket);
    if (release === undefined) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      release();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9464, hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = hostname.includes(':') ? `[${hostname}]` : hostname;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    get connections() {
      return sockets.size;
    },
    get eventStreams() {
      return streams.size;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const stream of streams) stream.end();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}
