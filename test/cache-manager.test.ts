/**
 * cache-manager 7 with a replicated meshcache cache as its in-process tier (through
 * @meshcache/keyv), in three real processes on 127.0.0.1 (examples/src/keyv/cache-manager-node.ts):
 * what one instance sets, the others read; a `del`, an `mdel` or a `clear` on one instance
 * reaches the others. Every process is stopped by pid after each test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { until as untilTrue } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';

const PROGRAM = fileURLToPath(new URL('../examples/src/keyv/cache-manager-node.ts', import.meta.url));
const SECRET = 'cache-manager example secret';

interface Instance {
  readonly name: string;
  readonly url: string;
  ask(command: Record<string, unknown>): Promise<Record<string, unknown>>;
}

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
});

async function start(name: string, peers: string[]): Promise<Instance> {
  const child = spawn(
    process.execPath,
    ['--conditions=@meshcache/source', '--import', 'tsx', PROGRAM, name, ...peers],
    {
      env: { ...process.env, MESHCACHE_SECRET: SECRET, REPLICATION_INTERVAL_MS: '10' },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  const waiting: Array<(line: string) => void> = [];
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const listening = /^listening on (ws:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (listening?.[1] !== undefined) resolve(listening[1]);
      else waiting.shift()?.(line);
    });
  });
  const ask = (command: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve) => {
      waiting.push((line) => resolve(JSON.parse(line)));
      child.stdin?.write(`${JSON.stringify(command)}\n`);
    });
  return { name, url, ask };
}

const until = (check: () => Promise<boolean>, what: string, timeoutMillis = 10_000) =>
  untilTrue(check, what, { timeoutMillis, intervalMillis: 25 });

const get = (instance: Instance, key: string) => instance.ask({ op: 'get', key });

async function cluster(): Promise<[Instance, Instance, Instance]> {
  const a = await start('app-1', []);
  const b = await start('app-2', [a.url]);
  const c = await start('app-3', [a.url, b.url]);
  for (const instance of [a, b, c]) {
    await until(async () => {
      const peers = (await instance.ask({ op: 'peers' })) as unknown as Array<{ state: string }>;
      return peers.length === 2 && peers.every((peer) => peer.state === 'connected');
    }, `${instance.name} to be linked to both others`);
  }
  return [a, b, c];
}

describe('cache-manager over meshcache, three processes', () => {
  it('a value set through one instance is read on the others, with the same expiry; a del on one reaches all', async () => {
    const [a, b, c] = await cluster();
    const order = { id: 42, status: 'paid', lines: [{ sku: 'A-1', quantity: 2 }] };
    expect(await a.ask({ op: 'set', key: 'order:42', value: order, ttl: 60_000 })).toEqual({ ok: true });
    for (const other of [b, c]) {
      await until(async () => (await get(other, 'order:42'))['found'] === true, `order:42 on ${other.name}`);
      expect(await get(other, 'order:42')).toEqual({ found: true, value: order });
    }
    const expires = (await a.ask({ op: 'ttl', key: 'order:42' }))['expires'];
    expect(typeof expires).toBe('number');
    expect(await c.ask({ op: 'ttl', key: 'order:42' })).toEqual({ expires });

    expect(await b.ask({ op: 'del', key: 'order:42' })).toEqual({ deleted: true });
    for (const other of [a, c]) {
      await until(async () => (await get(other, 'order:42'))['found'] === false, `the del to reach ${other.name}`);
    }
  }, 60_000);

  it('mdel and clear on one instance reach the others', async () => {
    const [a, b, c] = await cluster();
    for (const key of ['k1', 'k2', 'k3']) await a.ask({ op: 'set', key, value: key.toUpperCase() });
    await until(async () => (await get(c, 'k3'))['found'] === true, 'k3 on app-3');

    expect(await c.ask({ op: 'mdel', keys: ['k1', 'k2'] })).toEqual({ deleted: true });
    for (const other of [a, b]) {
      await until(
        async () => (await get(other, 'k1'))['found'] === false && (await get(other, 'k2'))['found'] === false,
        `the mdel to reach ${other.name}`,
      );
    }
    expect(await get(a, 'k3')).toEqual({ found: true, value: 'K3' });

    expect(await b.ask({ op: 'clear' })).toEqual({ cleared: true });
    for (const other of [a, c]) {
      await until(async () => (await get(other, 'k3'))['found'] === false, `the clear to reach ${other.name}`);
    }
  }, 60_000);
});
