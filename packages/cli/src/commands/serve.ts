/**
 * `meshcache serve --config FILE`: one node in the foreground. The file is the configuration of
 * docs/configuration.md (the secret may come from `secretFile` or MESHCACHE_SECRET instead). With
 * `http` in it, it opens the operator endpoint (metrics, health, the live page:
 * operator/operator-endpoint.ts) and prints `operator endpoint on http://HOST:PORT` at once. It
 * prints `listening on URL` on stdout once the node is ready, logs to stderr, and on SIGINT or
 * SIGTERM leaves the cluster cleanly (links closed, queues flushed, disk tiers written back) and
 * exits 0.
 *
 * Exit codes: 2 for a configuration that cannot be used (unreadable, not JSON, a bad field,
 * each named; a diskStorePath this user cannot make or write, as a secretFile it cannot read),
 * 1 when the node cannot start (the peer port or the http port taken, each named by its field;
 * the disk store locked; the disk under diskStorePath full or failing), 0 after a clean stop.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, MeshcacheError } from '@meshcache/core';
import { ClusterNode } from '@meshcache/replication';
import { firstDuplicateKey } from '../duplicate-keys.js';
import { inexactNumberIn } from '../inexact-numbers.js';
import type { Io } from '../io.js';
import { lineLogger } from '../logger.js';
import { type OperatorEndpoint, startOperatorEndpoint } from '../operator/operator-endpoint.js';

export interface ServeOptions {
  config: string;
  verbose?: boolean;
}

export async function serve(io: Io, options: ServeOptions): Promise<number> {
  let text: string;
  try {
    text = readFileSync(options.config, 'utf8');
  } catch (error) {
    io.err(`meshcache: cannot read the config file ${options.config}: ${(error as Error).message}\n`);
    return 2;
  }
  let config: unknown;
  // A byte order mark (Windows editors write one) is not JSON, and JSON.parse's complaint about it shows nothing.
  if (text.startsWith('\ufeff')) text = text.slice(1);
  try {
    config = JSON.parse(text);
  } catch (error) {
    io.err(`meshcache: the config file ${options.config} is not JSON: ${(error as Error).message}\n`);
    return 2;
  }
  // 1e-400 would be read as 0 (a TTL of "never expire", a bound of "unlimited") and 1e400 as
  // Infinity, in silence: a number the file holds that JSON cannot is refused, as `put` refuses one.
  const inexact = inexactNumberIn(text);
  if (inexact !== undefined) {
    io.err(
      `meshcache: the config file ${options.config} holds the number ${inexact.slice(0, 40)}, which JSON reads as ${JSON.parse(inexact)}: write the value meant\n`,
    );
    return 2;
  }
  const duplicate = firstDuplicateKey(text);
  if (duplicate !== undefined) {
    io.err(
      `meshcache: the config file ${options.config} gives ${JSON.stringify(duplicate)} twice (JSON keeps only the last): give it once\n`,
    );
    return 2;
  }
  const logger = lineLogger(io, options.verbose === true);
  let endpoint: OperatorEndpoint | undefined;
  let endpointFailed: { hostname: string; port: number } | undefined;
  // Opened once the node listens, before start() waits for a synchronous bootstrap (however
  // long): a probe meanwhile gets /healthz 200 and /readyz 503, not a refused connection.
  const openEndpoint = async (started: ClusterNode) => {
    if (started.http === undefined) return;
    try {
      endpoint = await startOperatorEndpoint(started, started.http);
    } catch (error) {
      endpointFailed = started.http;
      throw error;
    }
    io.out(`operator endpoint on ${endpoint.url}\n`);
  };
  // A signal during the start (a synchronous bootstrap waits for its repair however long it
  // streams) stops the node there: it used to be heard only once the start was over, and a
  // supervisor's grace period ran out first.
  let listening: (node: ClusterNode) => void = () => {};
  const reachedListener = new Promise<ClusterNode>((resolve) => {
    listening = resolve;
  });
  const onStarted = async (started: ClusterNode) => {
    try {
      await openEndpoint(started);
    } finally {
      listening(started);
    }
  };
  // MESHCACHE_SECRET is read by the node (an error about it names the variable, not a field of the file).
  const started = ClusterNode.start(config as never, { logger, onStarted, env: io.env }).then(async (ready) => {
    await ready.ready();
    return ready;
  });
  started.catch(() => {}); // answered below; a start a signal cut short may fail unheard
  let outcome: { readonly node: ClusterNode } | { readonly signal: string };
  try {
    outcome = await Promise.race([
      started.then((ready) => ({ node: ready })),
      io.interrupted.then((signal) => ({ signal })),
    ]);
  } catch (error) {
    if (endpointFailed !== undefined) {
      const { hostname, port } = endpointFailed;
      io.err(
        `meshcache: ${listenFailure('operator endpoint', 'http', hostname, port, error as NodeJS.ErrnoException)}\n`,
      );
      return 1;
    }
    if (error instanceof ConfigError) {
      io.err(`meshcache: ${options.config}: ${error.message}\n`);
      return 2;
    }
    if (error instanceof MeshcacheError && error.code === 'E_DISK_UNWRITABLE') {
      const path = (config as { diskStorePath?: unknown }).diskStorePath;
      const field = `option "diskStorePath" (${typeof path === 'string' ? path : 'unset'})`;
      // A disk that is full or failing is the machine's state, not the value's: the same file
      // starts once there is room, so a supervisor may retry it (1), as with a port taken.
      if (diskFailing(error)) {
        io.err(`meshcache: the node could not start (E_DISK_UNWRITABLE): ${field}: ${error.message}\n`);
        return 1;
      }
      // A path this user cannot make or write (permissions, a file in the way, a read-only mount, a
      // shared directory such as /tmp) is a configuration that cannot be used, as a secretFile that
      // cannot be read is (2): it was said as "the node could not start" (1), naming neither the
      // field nor that the file had to change.
      io.err(
        `meshcache: ${options.config}: ${field} cannot hold the disk store (E_DISK_UNWRITABLE): ${error.message}; give a directory this user can create and write\n`,
      );
      return 2;
    }
    // The only other listener is the peer port's: named as the http one is, since "the node could
    // not start: listen EADDRINUSE" left an operator to work out which of the two ports was taken.
    const listen = error as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
    // A peerListener.hostname this machine cannot resolve (an imported ehcache.xml's hostName of
    // another machine, say) failed as "the node could not start: getaddrinfo ENOTFOUND gw-1.internal",
    // naming neither the field nor the listener.
    const host =
      listen.syscall === 'getaddrinfo' ? listen.hostname : listen.syscall === 'listen' ? listen.address : undefined;
    if (host !== undefined) {
      // Node leaves `port` out of the error when the port asked for is 0 ("127.0.0.1:undefined").
      io.err(`meshcache: ${listenFailure('peer listener', 'peerListener', host, listen.port ?? 0, listen)}\n`);
      return 1;
    }
    const code = error instanceof MeshcacheError ? ` (${error.code})` : '';
    io.err(`meshcache: the node could not start${code}: ${(error as Error).message}\n`);
    return 1;
  }
  if ('signal' in outcome) {
    logger.info({ signal: outcome.signal }, 'leaving the cluster before the node was ready');
    // Stopped where it got to: once it listens (a synchronous bootstrap then waits), or once its
    // start is over, whichever comes first.
    const node = await Promise.race([reachedListener, started.catch(() => undefined)]);
    await endpoint?.close();
    await node?.stop();
    logger.info({}, 'stopped');
    return 0;
  }
  const node = outcome.node;
  io.out(`listening on ${node.url}\n`);
  const signal = await io.interrupted;
  logger.info({ signal }, 'leaving the cluster');
  await endpoint?.close();
  await node.stop();
  logger.info({}, 'stopped');
  return 0;
}

/**
 * Why a listener (the peer listener, the operator endpoint) could not listen, naming its field:
 * for a name this machine cannot resolve, or an address that is not this machine's (an imported
 * ehcache.xml's hostName of another machine, say), the hostname is what to change, and Node's own
 * words ("getaddrinfo ENOTFOUND x", "listen EADDRNOTAVAIL: address not available") did not say so.
 */
function listenFailure(
  listener: string,
  field: string,
  hostname: string,
  port: number,
  error: NodeJS.ErrnoException,
): string {
  if (error.syscall === 'getaddrinfo') {
    return `the ${listener} (${field}.hostname) could not listen on ${JSON.stringify(hostname)}: this machine cannot resolve that name (${error.code}); give an address or a name of this machine`;
  }
  const where = `${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`;
  if (error.code === 'EADDRNOTAVAIL') {
    return `the ${listener} (${field}.hostname) could not listen on ${where}: ${hostname} is not an address of this machine (EADDRNOTAVAIL); give one of its addresses`;
  }
  return `the ${listener} (${field}) could not listen on ${where}: ${error.message}`;
}

/**
 * The errno codes of a disk that is full or failing, or of a file-size limit (RLIMIT_FSIZE) this
 * process runs under: the machine's state, whatever the path.
 */
const DISK_FAILING: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EFBIG']);

/** Whether an E_DISK_UNWRITABLE came of the disk's state (full, failing, a size limit) rather than of the path. */
function diskFailing(error: Error): boolean {
  let cause: unknown = error.cause;
  for (let depth = 0; depth < 5 && cause instanceof Error; depth++) {
    const { code } = cause as NodeJS.ErrnoException;
    if (code !== undefined && DISK_FAILING.has(code)) return true;
    cause = cause.cause;
  }
  return false;
}
