/**
 * The options every command that talks to a live node shares, and the connection it makes:
 * --node URL, --secret-file (or --secret, or MESHCACHE_SECRET), --timeout, and for wss:// nodes
 * --ca (and --cert with --key where the node demands client certificates).
 *
 * A --timeout given is how long the user will wait for the node, also for one not listening yet
 * (a `serve` just started, a node restarting): a refused connection is dialled again, backing off,
 * until --timeout has passed (at most MAX_DIALS dials); once connected, the handshake and each
 * call have --timeout as before. Nothing is sent before the connection, so a retried `put` is
 * never written twice. Without --timeout a refused connection is said at once, as before: a
 * mistyped port does not hold the prompt for the default 5 s.
 *
 * The secret is best given by file or environment: a --secret on the command line shows in `ps`
 * and in shell history. What the node answers (error messages included) is printed escaped.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MAX_TIMER_MILLIS } from '@meshcache/core/internal';
import { explicitPort } from '@meshcache/discovery';
import { AdminClient, AdminError, WebSocketTransport } from '@meshcache/replication';
import { secretFileText } from '@meshcache/replication/internals';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { printable } from '../format.js';
import type { Io } from '../io.js';

export interface NodeOptions {
  node: string;
  secret?: string;
  secretFile?: string;
  timeout: number;
  /** --timeout was given on the command line (not its default): a refused dial is retried within it. */
  timeoutGiven?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  json?: boolean;
}

export function wholeNumber(name: string, min: number, max: number = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    // Decimal digits only: Number() would take '' and ' ' as 0 and '0x10' as 16.
    const value = /^[0-9]+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max)
      throw new InvalidArgumentError(
        `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`,
      );
    return value;
  };
}

/**
 * A cache argument (and stats --cache): bad usage when blank, which no cache's name is. The node
 * answered it with E_INVALID_ARGUMENT, exit 1, as if an operation had failed.
 */
export function cacheName(raw: string): string {
  if (raw.trim() === '') throw new InvalidArgumentError(`a cache name is never blank, got ${JSON.stringify(raw)}`);
  return raw;
}

/** --node: a ws:// or wss:// URL with a port, checked before anything is dialled (bad usage, exit 2). */
function nodeUrl(raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  const port = explicitPort(raw);
  if (url === undefined || (url.protocol !== 'ws:' && url.protocol !== 'wss:') || port === undefined || port === 0) {
    throw new InvalidArgumentError(`--node must be ws://host:port or wss://host:port, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

/** Adds the shared options to a command. */
export function nodeOptions(command: Command, json = true): Command {
  command
    .addOption(
      new Option('--node <url>', 'the node to ask: ws://host:port (wss:// with TLS)')
        .makeOptionMandatory()
        .argParser(nodeUrl),
    )
    .option(
      '--secret-file <file>',
      'a file holding the secret: the admin secret, the read-only secret, or the cluster secret where the node has no admin secret',
    )
    .option('--secret <secret>', 'the secret itself (shows in ps and shell history; prefer --secret-file)')
    .addOption(
      new Option(
        '--timeout <ms>',
        'how long to wait for the node; given, a node not listening yet (connection refused) is dialled again until then',
      )
        .default(5000)
        .argParser(wholeNumber('--timeout', 1, MAX_TIMER_MILLIS)),
    )
    .option('--ca <file>', 'PEM CA that signed the node’s certificate (wss://)')
    .option('--cert <file>', 'PEM client certificate, for nodes that demand one (mutual TLS)')
    .option('--key <file>', 'PEM key of --cert');
  if (json) command.option('--json', 'print JSON for scripts');
  command.hook('preAction', (self) => {
    self.setOptionValue('timeoutGiven', self.getOptionValueSource('timeout') === 'cli');
  });
  return command;
}

/** A --secret-file's secret (secretFileText: strict UTF-8, as the node reads a `secretFile`). */
function secretText(bytes: Buffer, file: string): string {
  const text = secretFileText(bytes);
  if (text === undefined) {
    throw new AdminError(
      'E_BAD_USAGE',
      `--secret-file ${file} is not UTF-8 text: a secret is text, compared as UTF-8 (e.g. openssl rand -base64 32)`,
    );
  }
  return text;
}

/**
 * The TLS files' contents, checked before dialling as serve checks the config's tls files: a wrong
 * file (the key given as --ca, a DER file) was blamed on the node as "cannot reach a node at
 * wss://...: self-signed certificate in certificate chain" (or OpenSSL's "DECODER routines::
 * unsupported") with exit 1, and a --cert without --key (or the other way) was ignored in silence.
 */
function checkTlsFiles(
  options: NodeOptions,
  files: { ca: Buffer | undefined; cert: Buffer | undefined; key: Buffer | undefined },
): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const parsed = <T>(flag: string, file: string | undefined, what: string, parse: () => T): T => {
    try {
      return parse();
    } catch (error) {
      throw new AdminError('E_BAD_USAGE', `${flag} ${file} does not hold ${what}: ${(error as Error).message}`);
    }
  };
  const { ca, cert, key } = files;
  if ((cert === undefined) !== (key === undefined)) {
    throw new AdminError(
      'E_BAD_USAGE',
      'give --cert and --key together: a client certificate and its private key (for a node with mutual TLS)',
    );
  }
  if (ca !== undefined) parsed('--ca', options.ca, 'a PEM certificate', () => new X509Certificate(ca));
  if (cert !== undefined && key !== undefined) {
    const certificate = parsed('--cert', options.cert, 'a PEM certificate', () => new X509Certificate(cert));
    const privateKey = parsed('--key', options.key, 'a PEM private key', () => createPrivateKey(key));
    if (!certificate.checkPrivateKey(privateKey)) {
      throw new AdminError(
        'E_BAD_USAGE',
        `--key ${options.key} is not the key of the --cert certificate (${options.cert})`,
      );
    }
  }
  return Object.fromEntries(Object.entries(files).filter(([, v]) => v !== undefined));
}

/** Connects, runs `work`, closes; an AdminError becomes one line on stderr and exit code 1. */
export async function withNode(
  io: Io,
  options: NodeOptions,
  work: (client: AdminClient) => Promise<number>,
): Promise<number> {
  let client: AdminClient | undefined;
  let secret: string | undefined;
  try {
    const read = (file: string | undefined, flag: string) => {
      if (file === undefined) return undefined;
      try {
        return readFileSync(file);
      } catch (error) {
        throw new AdminError('E_BAD_USAGE', `cannot read ${flag} ${file}: ${(error as Error).message}`);
      }
    };
    if (options.secret !== undefined && options.secretFile !== undefined) {
      throw new AdminError('E_BAD_USAGE', 'give --secret or --secret-file, not both');
    }
    secret =
      options.secretFile !== undefined
        ? secretText(read(options.secretFile, '--secret-file') as Buffer, options.secretFile)
        : (options.secret ?? (io.env['MESHCACHE_SECRET'] || undefined));
    if (options.secretFile !== undefined && secret === '') {
      throw new AdminError('E_BAD_USAGE', `--secret-file ${options.secretFile} is empty: it must hold the secret`);
    }
    // `--secret "$SECRET"` with the variable unset: said so, not dialled and blamed on the node
    // ("the node refused the secret").
    if (options.secret === '') {
      throw new AdminError('E_BAD_USAGE', '--secret is empty: give the secret (or --secret-file, or MESHCACHE_SECRET)');
    }
    // The same slip in the environment (`MESHCACHE_SECRET=$(cat a-missing-file)`), which dialled
    // without a secret and was told the node wants one; as `serve` refuses it.
    if (options.secret === undefined && options.secretFile === undefined && io.env['MESHCACHE_SECRET'] === '') {
      throw new AdminError(
        'E_BAD_USAGE',
        'MESHCACHE_SECRET is empty: put the secret in it (or give --secret-file), or unset it for a node without one',
      );
    }
    const tls = checkTlsFiles(options, {
      ca: read(options.ca, '--ca'),
      cert: read(options.cert, '--cert'),
      key: read(options.key, '--key'),
    });
    client = await dial(options, secret, tls);
    return await work(client);
  } catch (error) {
    if (!(error instanceof AdminError)) throw error;
    const message =
      error.code === 'E_AUTH' && secret === undefined
        ? 'the node wants a secret and none was given: --secret-file, --secret or MESHCACHE_SECRET'
        : error.message;
    io.err(`meshcache: ${printable(message)}\n`);
    return error.code === 'E_BAD_USAGE' ? 2 : 1;
  } finally {
    client?.close();
  }
}

/** Most dials of one command while a node refuses the connection (--timeout bounds them too). */
const MAX_DIALS = 100;
/** The pause after the first refused dial; doubled after each, up to MAX_DIAL_PAUSE_MILLIS. */
const FIRST_DIAL_PAUSE_MILLIS = 50;
const MAX_DIAL_PAUSE_MILLIS = 1000;
/**
 * A dial again only with at least this long left of --timeout: dialled with a millisecond left,
 * it ended on "the WebSocket upgrade did not finish within 1 ms", and the refusal that was the
 * whole story went unsaid (one run in six of the test of it).
 */
const LEAST_DIAL_MILLIS = 50;

/**
 * Connects to --node: once, or, with --timeout given, again after each refused connection until
 * --timeout has passed or MAX_DIALS were made. `put --timeout 30000` right after starting `serve`
 * failed at once with "connect ECONNREFUSED" although the user had said how long to wait.
 * @throws AdminError as AdminClient.connect does; a refused connection dialled more than once says how often
 */
async function dial(
  options: NodeOptions,
  secret: string | undefined,
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer },
): Promise<AdminClient> {
  const started = Date.now();
  const deadline = started + options.timeout;
  let pause = FIRST_DIAL_PAUSE_MILLIS;
  for (let dials = 1; ; dials++) {
    // The dial's own bound is --timeout too (what is left of it): left at the transport's 5 s, a
    // --timeout raised for a slow node still gave up on it after 5 s ("the WebSocket upgrade did
    // not finish within 5000 ms").
    const left = Math.max(1, deadline - Date.now());
    const transport = new WebSocketTransport({ tls, dialTimeoutMillis: left });
    try {
      return await AdminClient.connect(options.node, { secret, timeoutMillis: options.timeout, transport });
    } catch (error) {
      // The last pause is cut short, so that the last dial still has LEAST_DIAL_MILLIS.
      const wait = Math.min(pause, deadline - Date.now() - LEAST_DIAL_MILLIS);
      if (options.timeoutGiven !== true || !refused(error) || dials >= MAX_DIALS || wait <= 0) {
        if (dials === 1 || !(error instanceof AdminError)) throw error;
        throw new AdminError(
          error.code,
          `${error.message} (dialled ${dials} times over ${Date.now() - started} ms, --timeout ${options.timeout})`,
          { cause: error },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
      pause = Math.min(pause * 2, MAX_DIAL_PAUSE_MILLIS);
    }
  }
}

/** Whether a dial failed for a refused connection (nothing listening there yet), by its causes. */
function refused(error: unknown): boolean {
  let cause = error;
  for (let depth = 0; depth < 5 && cause instanceof Error; depth++) {
    if ((cause as NodeJS.ErrnoException).code === 'ECONNREFUSED') return true;
    cause = cause.cause;
  }
  return false;
}
