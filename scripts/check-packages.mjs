#!/usr/bin/env node
// The packages as a user gets them. Packs every publishable package (pnpm pack, as `pnpm publish`
// would: workspace versions written out, publishConfig applied), lints each tarball (publint, and
// @arethetypeswrong/cli), installs the tarballs with npm into a fresh directory outside the
// workspace (their own dependencies come from the registry), and there, as a user would:
//
//   - imports every entry point from plain Node ESM, and with require() (Node 20.19+ loads ESM);
//   - type-checks a small TypeScript consumer with moduleResolution node16 (skipLibCheck off: our
//     declaration files are checked whole) and bundler, and a CommonJS one with module node20,
//     where TypeScript allows require() of ESM;
//   - runs `npx meshcache --version`, and two `meshcache serve` processes that replicate a put
//     (a secret file of 48 random bytes), the first with its operator endpoint (/readyz, /metrics);
//   - checks that bonjour-service is not loaded by a node without automatic discovery, and, in a
//     second directory without the CLI (so without bonjour-service), that automatic discovery
//     fails with E_MISSING_DEPENDENCY before anything is sent.
//
// Needs a build first (`npx --yes pnpm@10.34.8 run build`). Exceptions to the linters, each justified:
//   - attw --profile node16: TypeScript's node10 resolution predates `exports` maps, so no
//     subpath (`/testing`, `/internal`, `/metrics`, `/internals`) can resolve under it; the main entries do
//     (main and types at the top of each published manifest).
//   - attw --ignore-rules cjs-resolves-to-esm: the packages are ESM only, on purpose; Node 20.19+
//     loads them with require() (checked below), and TypeScript 5.8+ types it with module node20.
// Processes are stopped by pid and the temporary directories removed, whatever happens.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PNPM = ['--yes', 'pnpm@10.34.8'];
const workspace = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const started = performance.now();
const temp = mkdtempSync(join(tmpdir(), 'meshcache-packages-'));
const children = new Set();

function step(text) {
  console.log(`\n== packages: ${text} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

/** Runs a command to its end, output shown; throws naming it when it fails. */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`);
  }
}

/** Runs a command, returns its stdout; throws with its output when it fails. */
function output(command, args, options = {}) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options });
  } catch (error) {
    throw new Error(`${command} ${args.join(' ')} failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
  }
}

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  console.log(`ok ${what}`);
}

async function main() {
  const packages = readdirSync(join(root, 'packages'))
    .map((dir) => ({
      dir: join(root, 'packages', dir),
      manifest: JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')),
    }))
    .filter(({ manifest }) => manifest.private !== true);

  step(`pack ${packages.length} packages`);
  const tarballs = join(temp, 'tarballs');
  mkdirSync(tarballs);
  run('npx', [...PNPM, '-r', '--filter', './packages/**', 'pack', '--pack-destination', tarballs], {
    cwd: root,
    stdio: 'ignore',
  });
  const files = readdirSync(tarballs).map((file) => join(tarballs, file));
  check(files.length === packages.length, `one tarball per package: ${readdirSync(tarballs).join(', ')}`);

  step('lint the tarballs: publint, @arethetypeswrong/cli');
  const tool = (name) => join(root, 'node_modules', '.bin', name);
  for (const file of files) {
    run(tool('publint'), ['run', file, '--strict'], { cwd: root });
    run(
      tool('attw'),
      [file, '--profile', 'node16', '--ignore-rules', 'cjs-resolves-to-esm', '--format', 'table-flipped'],
      {
        cwd: root,
      },
    );
  }
  for (const { manifest } of packages) {
    const tarball = files.find((file) =>
      file.includes(`${manifest.name.replace('@', '').replace('/', '-')}-${manifest.version}.tgz`),
    );
    const listing = output('tar', ['-tzf', tarball]).split('\n');
    const packed = JSON.parse(output('tar', ['-xzOf', tarball, 'package/package.json']));
    check(
      ['package/README.md', 'package/LICENSE', 'package/package.json'].every((f) => listing.includes(f)) &&
        packed.license === 'MIT' &&
        packed.repository?.url !== undefined &&
        packed.homepage !== undefined &&
        packed.keywords?.length > 0,
      `${manifest.name}: README.md, LICENSE (MIT), repository, homepage and keywords`,
    );
    check(
      !JSON.stringify(packed).includes('workspace:') && !JSON.stringify(packed.exports).includes('@meshcache/source'),
      `${manifest.name}: no workspace: range and no @meshcache/source condition in the published manifest`,
    );
  }

  step('install the tarballs with npm in a fresh directory');
  const user = join(temp, 'user');
  mkdirSync(user);
  writeFileSync(join(user, 'package.json'), JSON.stringify({ name: 'a-user', private: true, type: 'module' }));
  const npmInstall = (dir, specs) =>
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...specs], { cwd: dir });
  npmInstall(user, [
    ...files,
    `typescript@${workspace.devDependencies.typescript}`,
    `@types/node@${workspace.devDependencies['@types/node']}`,
  ]);
  const tree = JSON.parse(output('npm', ['ls', '--all', '--json'], { cwd: user }));
  const fromRegistry = [];
  const walk = (deps = {}) => {
    for (const [name, info] of Object.entries(deps)) {
      if (name.startsWith('@meshcache/') && info.resolved !== undefined && !info.resolved.startsWith('file:'))
        fromRegistry.push(name);
      walk(info.dependencies);
    }
  };
  walk(tree.dependencies);
  check(fromRegistry.length === 0, 'every @meshcache package installed from the tarballs, none from the registry');

  step('import every entry point: ESM, and require()');
  const entries = packages.flatMap(({ manifest }) =>
    Object.keys(manifest.publishConfig?.exports ?? manifest.exports).map((sub) => `${manifest.name}${sub.slice(1)}`),
  );
  const esm = entries.map((entry, i) => `import * as m${i} from '${entry}';`).join('\n');
  writeFileSync(
    join(user, 'esm.mjs'),
    `${esm}\nconst all = [${entries.map((_, i) => `m${i}`).join(', ')}];\nif (all.some((m) => Object.keys(m).length === 0)) throw new Error('an entry point exports nothing');\nconsole.log(all.map((m) => Object.keys(m).length).join(' '));\n`,
  );
  output(process.execPath, ['esm.mjs'], { cwd: user });
  check(true, `import of ${entries.join(', ')}`);
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 20 || (major === 20 && minor >= 19)) {
    writeFileSync(
      join(user, 'cjs.cjs'),
      `${entries.map((entry) => `if (Object.keys(require('${entry}')).length === 0) throw new Error('${entry} exports nothing');`).join('\n')}\n`,
    );
    output(process.execPath, ['cjs.cjs'], { cwd: user });
    check(true, `require() of every entry point on Node ${process.versions.node}`);
  } else {
    throw new Error(`Node ${process.versions.node}: require() of ESM needs 20.19 or later; CI runs Node 20.19+`);
  }

  step('type-check a TypeScript consumer: node16, bundler, and CommonJS (node20)');
  const consumer = `import { CacheManager, type CacheStatistics, LOAD_CHANNEL } from '@meshcache/core';
import { ManualClock } from '@meshcache/core/testing';
import { createPeerProvider, type PeerProvider } from '@meshcache/discovery';
import { ClusterNode, type ClusterConfig, HandshakeError, MemoryNetwork, type PeerInfo, type Transport } from '@meshcache/replication';
import { registerMeshcacheMetrics } from '@meshcache/replication/metrics';
import { WireCodec } from '@meshcache/replication/internals';
import { run, startOperatorEndpoint } from '@meshcache/cli';
import { responseCacheKey, tokenCache } from '@meshcache/gateway';
import { KeyvMeshcache } from '@meshcache/keyv';
import meshcacheFastify, { type MeshcacheFastifyOptions } from '@meshcache/fastify';
import { Registry } from 'prom-client';

const clock = new ManualClock();
const manager = new CacheManager({ clock: clock.now });
const cache = manager.addCache<{ status: number }>('Response Cache', { maxElementsInMemory: 10, timeToLiveSeconds: 60 });
cache.put('GET /a', { status: 200 });
const statistics: CacheStatistics = cache.statistics();
const config: ClusterConfig = { name: 'gw-1', cluster: 'c', caches: { 'Response Cache': { replication: {} } } };
const transport: Transport = new MemoryNetwork();
export async function start(): Promise<PeerInfo[]> {
  const node = await ClusterNode.start(config, { transport });
  registerMeshcacheMetrics(node, new Registry());
  const endpoint = await startOperatorEndpoint(node, { port: 0 });
  await endpoint.close();
  return node.peers();
}
export const things = [statistics.expiredMisses, LOAD_CHANNEL, HandshakeError, WireCodec, run, responseCacheKey, tokenCache, createPeerProvider, new KeyvMeshcache(manager.addCache('keyv')), meshcacheFastify];
export const fastifyOptions: MeshcacheFastifyOptions = { cache: manager.addCache('responses') };
export type Provider = PeerProvider;
`;
  writeFileSync(join(user, 'consumer.ts'), consumer);
  writeFileSync(
    join(user, 'consumer-cjs.cts'),
    `import type { CacheManager as Manager } from '@meshcache/core';\nconst { CacheManager } = require('@meshcache/core') as typeof import('@meshcache/core');\nexport const manager: Manager = new CacheManager();\n`,
  );
  const tsconfig = (name, options, include) =>
    writeFileSync(
      join(user, name),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          target: 'ES2022',
          types: ['node'],
          ...options,
        },
        files: include,
      }),
    );
  // Our declaration files are checked once, whole (skipLibCheck off); the other two check how they resolve and type.
  tsconfig('tsconfig.node16.json', { module: 'node16', moduleResolution: 'node16' }, ['consumer.ts']);
  tsconfig('tsconfig.bundler.json', { module: 'esnext', moduleResolution: 'bundler', skipLibCheck: true }, [
    'consumer.ts',
  ]);
  tsconfig('tsconfig.cjs.json', { module: 'node20', moduleResolution: 'node16', skipLibCheck: true }, [
    'consumer-cjs.cts',
  ]);
  for (const config of ['tsconfig.node16.json', 'tsconfig.bundler.json', 'tsconfig.cjs.json']) {
    run('npx', ['tsc', '-p', config], { cwd: user });
    check(true, `tsc -p ${config}`);
  }

  step('npx meshcache --version');
  const cli = packages.find(({ manifest }) => manifest.name === '@meshcache/cli').manifest;
  const version = output('npx', ['meshcache', '--version'], { cwd: user }).trim();
  check(version === cli.version, `npx meshcache --version prints ${cli.version} (printed ${JSON.stringify(version)})`);

  step('two meshcache serve processes replicate a put');
  const bin = join(user, 'node_modules', '.bin', 'meshcache');
  const secretFile = join(user, 'cluster-secret');
  writeFileSync(secretFile, randomBytes(48).toString('base64'), { mode: 0o600 });
  const serve = async (name, peers, http) => {
    const file = join(user, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        name,
        cluster: 'packages',
        secretFile,
        peerListener: { hostname: '127.0.0.1', port: 0 },
        peerDiscovery: { mode: 'manual', peers },
        ...(http ? { http: { port: 0 } } : {}),
        caches: { 'Response Cache': { replication: { asynchronousReplicationIntervalMillis: 10 } } },
      }),
    );
    // The bin npx would run, started directly so that its pid is the node's own.
    const child = spawn(bin, ['serve', '--config', file], { cwd: user, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    let log = '';
    child.stderr.on('data', (chunk) => {
      log += chunk;
    });
    let endpoint;
    const url = await new Promise((resolveUrl, reject) => {
      child.once('exit', (code) => reject(new Error(`meshcache serve ${name} exited with ${code}: ${log}`)));
      createInterface({ input: child.stdout }).on('line', (line) => {
        endpoint ??= /^operator endpoint on (http:\S+)$/.exec(line)?.[1];
        const listening = /^listening on (ws:\S+)$/.exec(line)?.[1];
        if (listening !== undefined) resolveUrl(listening);
      });
    });
    return { url, endpoint };
  };
  const a = await serve('gw-1', [], true);
  const b = await serve('gw-2', [a.url], false);
  const meshcache = (...args) => output(bin, [...args, '--secret-file', secretFile], { cwd: user });
  meshcache('put', '--node', a.url, 'Response Cache', 'GET /orders/42', '{"status":200}');
  const deadline = Date.now() + 20_000;
  let answer = '';
  while (Date.now() < deadline) {
    answer = meshcache('get', '--node', b.url, 'Response Cache', 'GET /orders/42', '--json').trim();
    if (answer !== '{"found":false}') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  check(answer === '{"found":true,"value":{"status":200}}', `a put on gw-1 read back on gw-2 (${answer})`);
  const ready = await fetch(`${a.endpoint}/readyz`);
  const metrics = await (await fetch(`${a.endpoint}/metrics`)).text();
  check(ready.status === 200, 'gw-1 /readyz answers 200');
  check(
    /^cache_puts_total\{cache="Response Cache"\} 1$/m.test(metrics) &&
      /^meshcache_peer_state\{peer="gw-2",state="connected"\} 1$/m.test(metrics),
    'gw-1 /metrics counts the put and shows gw-2 connected',
  );
  const exits = [...children].map((child) => new Promise((done) => child.once('exit', (code) => done(code))));
  for (const child of children) child.kill('SIGTERM');
  check(
    (await Promise.all(exits)).every((code) => code === 0),
    'both nodes leave cleanly on SIGTERM (exit 0)',
  );

  step('bonjour-service: loaded only for automatic discovery');
  writeFileSync(
    join(user, 'no-mdns.mjs'),
    `import { createRequire } from 'node:module';
import { ClusterNode } from '@meshcache/replication';
const node = await ClusterNode.start({ name: 'solo', cluster: 'c', caches: { c: { replication: {} } } });
await node.stop();
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((file) => file.includes('bonjour-service'));
if (loaded.length > 0) throw new Error('bonjour-service was loaded: ' + loaded.join(', '));
`,
  );
  output(process.execPath, ['no-mdns.mjs'], { cwd: user });
  check(true, 'a node with manual discovery does not load bonjour-service');
  const lean = join(temp, 'lean');
  mkdirSync(lean);
  writeFileSync(join(lean, 'package.json'), JSON.stringify({ name: 'a-lean-user', private: true, type: 'module' }));
  npmInstall(
    lean,
    files.filter((file) => /meshcache-(core|discovery|replication)-/.test(file)),
  );
  writeFileSync(
    join(lean, 'mdns-missing.mjs'),
    `import { ClusterNode } from '@meshcache/replication';
// Never start mDNS outside a network namespace: go on only if bonjour-service is truly absent.
try { import.meta.resolve('bonjour-service'); console.log('bonjour-service is installed'); process.exit(3); } catch {}
const error = await ClusterNode.start({ name: 'solo', cluster: 'c', peerDiscovery: { mode: 'automatic' } }).then(
  (node) => { node.stop(); return undefined; },
  (caught) => caught,
);
console.log(error?.code, error?.message);
`,
  );
  const missing = output(process.execPath, ['mdns-missing.mjs'], { cwd: lean }).trim();
  check(
    missing ===
      'E_MISSING_DEPENDENCY peerDiscovery.mode "automatic" (mDNS) needs the package bonjour-service, which is not installed: npm install bonjour-service',
    `without bonjour-service, automatic discovery says what to install (${missing})`,
  );

  console.log(`\npackages: every check passed in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

try {
  await main();
} catch (error) {
  console.error(`\npackages: ${error.message}`);
  process.exitCode = 1;
} finally {
  for (const child of children) child.kill('SIGKILL');
  rmSync(temp, { recursive: true, force: true });
}
