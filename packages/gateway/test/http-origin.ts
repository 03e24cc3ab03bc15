/**
 * A real origin for the response cache's tests: a node:http server on 127.0.0.1 (a free port)
 * that answers by a script and records every request it got, and the `fetchUpstream` a gateway
 * gives `handle` (the URL as keyed, asked of this server, every header but Host forwarded as the
 * cache passes it). It sends no Date of its own: the tests' clocks are manual.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import type { KeyedRequest, UpstreamResponse } from '../src/index.js';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export type Script = (request: SeenRequest, call: number, response: ServerResponse) => void;

export interface HttpOrigin {
  /** Every request the server got, in order. */
  readonly seen: SeenRequest[];
  /** What answers the next requests; replace it to change the origin's mind. */
  script: Script;
  /** fetchUpstream for ResponseCache.handle: asks this server for the keyed request. */
  readonly fetch: (request: KeyedRequest) => Promise<UpstreamResponse>;
}

const servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/** A server on 127.0.0.1 and a free port, closed after the test. */
export async function httpOrigin(script: Script): Promise<HttpOrigin> {
  const origin = { seen: [] as SeenRequest[], script } as HttpOrigin & { script: Script };
  const server = createServer((request, response) => {
    response.sendDate = false;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const seen = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString(),
      };
      origin.seen.push(seen);
      origin.script(seen, origin.seen.length, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  servers.push({
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  const fetch = (request: KeyedRequest): Promise<UpstreamResponse> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(request.headers ?? {})) {
        if (value === undefined || name.toLowerCase() === 'host') continue;
        headers[name] = typeof value === 'number' ? String(value) : (value as string | string[]);
      }
      // Node sends a DELETE's body without a length of its own: say it, or the server reads garbage.
      if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
      const { pathname, search } = new URL(request.url, 'http://path.only');
      const outgoing = httpRequest(
        { host: '127.0.0.1', port, path: `${pathname}${search}`, method: request.method, headers },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('error', reject);
          incoming.on('end', () =>
            resolve({
              status: incoming.statusCode ?? 502,
              headers: incoming.headers,
              body: Buffer.concat(chunks).toString(),
            }),
          );
        },
      );
      outgoing.on('error', reject);
      outgoing.end(request.body);
    });
  return Object.assign(origin, { fetch });
}
