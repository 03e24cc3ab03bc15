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
 * value or secret, and on loopback answers only requests whose Host is a loopback name (a page
 * elsewhere that rebinds its DNS name to 127.0.0.1 gets 421). Only GET and HEAD. At most
 * MAX_EVENT_STREAMS pages listen at once (503 past it), each stream costs one JSON per second.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ClusterNode } from '@meshcache/replication';
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
}

export interface OperatorEndpoint {
  /** http://host:port, with the real port. */
  readonly url: string;
  /** Ends the event streams and closes the listener. Idempotent. */
  close(): Promise<void>;
}

/** Pages (event streams) served at once; past it /events answers 503. */
export const MAX_EVENT_STREAMS = 32;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

function isLoopbackName(hostname: string): boolean {
  const bare = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
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
  const loopbackOnly = isLoopbackName(hostname);
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
  const streams = new Set<ServerResponse>();
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
    if (streams.size >= MAX_EVENT_STREAMS) {
      send(response, 503, text, 'too many pages open\n', false);
      return;
    }
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    const push = () => response.write(`event: status\ndata: ${JSON.stringify(nodeStatus(node, ready, startedAt))}\n\n`);
    response.write('retry: 1000\n\n');
    push();
    const timer = setInterval(push, interval);
    streams.add(response);
    response.on('close', () => {
      clearInterval(timer);
      streams.delete(response);
    });
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    if (loopbackOnly && !isLoopbackName(hostOf(request.headers.host) ?? '')) {
      send(response, 421, text, 'this endpoint answers only to a loopback Host\n', false);
      return;
    }
    const head = request.method === 'HEAD';
    if (request.method !== 'GET' && !head) {
      response.setHeader('allow', 'GET, HEAD');
      send(response, 405, text, 'only GET and HEAD\n', false);
      return;
    }
    const path = new URL(request.url ?? '/', 'http://endpoint').pathname;
    switch (path) {
      case '/metrics':
        send(response, 200, registry.contentType, await registry.metrics(), head);
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

  const server: Server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (request, response) => {
    handle(request, response).catch((error: Error) => {
      if (!response.headersSent) send(response, 500, text, `${error.message}\n`, false);
      else response.destroy();
    });
  });
  server.maxHeadersCount = 50;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
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
