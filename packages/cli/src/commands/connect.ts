/**
 * The options every command that talks to a live node shares, and the connection it makes:
 * --node URL, --secret (or MESHCACHE_SECRET), --timeout, and for wss:// nodes --ca (and --cert
 * with --key where the node demands client certificates).
 */
import { readFileSync } from 'node:fs';
import { AdminClient, AdminError, WebSocketTransport } from '@meshcache/replication';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Io } from '../io.js';

export interface NodeOptions {
  node: string;
  secret?: string;
  timeout: number;
  ca?: string;
  cert?: string;
  key?: string;
  json?: boolean;
}

export function wholeNumber(name: string, min: number) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min)
      throw new InvalidArgumentError(`${name} must be a whole number >= ${min}`);
    return value;
  };
}

/** Adds the shared options to a command. */
export function nodeOptions(command: Command, json = true): Command {
  command
    .requiredOption('--node <url>', 'the node to ask: ws://host:port (wss:// with TLS)')
    .option('--secret <secret>', 'the cluster secret (default: env MESHCACHE_SECRET)')
    .addOption(
      new Option('--timeout <ms>', 'how long to wait for the node')
        .default(5000)
        .argParser(wholeNumber('--timeout', 1)),
    )
    .option('--ca <file>', 'PEM CA that signed the node’s certificate (wss://)')
    .option('--cert <file>', 'PEM client certificate, for nodes that demand one (mutual TLS)')
    .option('--key <file>', 'PEM key of --cert');
  if (json) command.option('--json', 'print JSON for scripts');
  return command;
}

/** Connects, runs `work`, closes; an AdminError becomes one line on stderr and exit code 1. */
export async function withNode(
  io: Io,
  options: NodeOptions,
  work: (client: AdminClient) => Promise<number>,
): Promise<number> {
  let client: AdminClient | undefined;
  try {
    const read = (file: string | undefined, flag: string) => {
      if (file === undefined) return undefined;
      try {
        return readFileSync(file);
      } catch (error) {
        throw new AdminError('E_USAGE', `cannot read ${flag} ${file}: ${(error as Error).message}`);
      }
    };
    const tls = { ca: read(options.ca, '--ca'), cert: read(options.cert, '--cert'), key: read(options.key, '--key') };
    const transport = new WebSocketTransport({
      tls: Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined)),
    });
    client = await AdminClient.connect(options.node, {
      secret: options.secret ?? (io.env['MESHCACHE_SECRET'] || undefined),
      timeoutMillis: options.timeout,
      transport,
    });
    return await work(client);
  } catch (error) {
    if (!(error instanceof AdminError)) throw error;
    io.err(`meshcache: ${error.message}\n`);
    return 1;
  } finally {
    client?.close();
  }
}
