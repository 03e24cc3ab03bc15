import { ConfigError } from '@meshcache/core';
import { describe, expect, it, vi } from 'vitest';
import { FIRST_ANSWER_WAIT_MILLIS } from '../src/dns-provider.js';
import {
  cachesOf,
  createPeerProvider,
  DnsPeerProvider,
  type ManualPeer,
  ManualPeerProvider,
  MdnsPeerProvider,
  resolveDiscoveryConfig,
} from '../src/index.js';
import { checkProviderConformance } from './provider-conformance.js';

describe('ManualPeerProvider', () => {
  it('passes the provider conformance suite', async () => {
    let list: ManualPeer[] = [];
    let provider: ManualPeerProvider | undefined;
    await checkProviderConformance({
      create: () => {
        provider = new ManualPeerProvider([]);
        return provider;
      },
      appear: async (id) => {
        const peer = { url: `ws://${id}.example:4000`, cache: undefined };
        list = [...list, peer];
        provider?.update(list);
        return peer.url;
      },
      disappear: async (id) => {
        list = list.filter((peer) => peer.url !== `ws://${id}.example:4000`);
        provider?.update(list);
      },
      eventTimeoutMillis: 1000,
    });
  });

  it('reports the configured peers at start, each with its cache', async () => {
    const config = resolveDiscoveryConfig({
      mode: 'manual',
      peers: ['ws://127.0.0.1:40002', 'ws://127.0.0.1:40003/Response%20Cache'],
    });
    const provider = createPeerProvider(
      config,
      { cluster: 'c', node: 'n', port: 1, scheme: 'ws', protocolVersion: 1 },
      console,
    );
    await provider.start();
    expect(provider.peers()).toEqual([
      { url: 'ws://127.0.0.1:40002', cache: undefined, node: undefined, foundBy: 'manual' },
      { url: 'ws://127.0.0.1:40003', cache: 'Response Cache', node: undefined, foundBy: 'manual' },
    ]);
    await provider.stop();
  });

  it('makes several URLs for one node one peer for their caches, and one without a path a peer for all', async () => {
    const provider = new ManualPeerProvider([
      { url: 'ws://b:1', cache: 'R' },
      { url: 'ws://b:1', cache: 'S' },
      { url: 'ws://b:1', cache: 'R' },
      { url: 'ws://c:1', cache: 'R' },
      { url: 'ws://c:1', cache: undefined },
      { url: 'ws://c:1', cache: 'S' },
    ]);
    await provider.start();
    expect(provider.peers()).toEqual([
      { url: 'ws://b:1', cache: undefined, caches: ['R', 'S'], node: undefined, foundBy: 'manual' },
      { url: 'ws://c:1', cache: undefined, node: undefined, foundBy: 'manual' },
    ]);
    expect(provider.peers().map(cachesOf)).toEqual([['R', 'S'], undefined]);
    await provider.stop();
  });

  it('reports a peer whose caches changed in an update as gone and back (the node relinks it for them)', async () => {
    const provider = new ManualPeerProvider([{ url: 'ws://b:1', cache: 'R' }]);
    const events: Array<[string, readonly string[] | undefined]> = [];
    provider.onChange((event) => events.push([event.type, cachesOf(event.peer)]));
    await provider.start();
    provider.update([
      { url: 'ws://b:1', cache: 'R' },
      { url: 'ws://b:1', cache: 'S' },
    ]);
    provider.update([
      { url: 'ws://b:1', cache: 'S' },
      { url: 'ws://b:1', cache: 'R' },
    ]);
    expect(events).toEqual([
      ['up', ['R']],
      ['down', ['R']],
      ['up', ['R', 'S']],
    ]);
    await provider.stop();
  });
});

describe('DnsPeerProvider', () => {
  it('passes the provider conformance suite', async () => {
    const answer = new Set<string>();
    const addressOf = (id: string) => `10.0.0.${id.length + (id === 'two' ? 100 : 0)}`;
    await checkProviderConformance({
      create: () =>
        new DnsPeerProvider({
          name: 'gateways.svc',
          port: 40001,
          intervalMillis: 20,
          resolver: async () => [...answer],
        }),
      appear: async (id) => {
        answer.add(addressOf(id));
        return `ws://${addressOf(id)}:40001`;
      },
      disappear: async (id) => {
        answer.delete(addressOf(id));
      },
      eventTimeoutMillis: 1000,
    });
  });

  it('keeps the last known peers when a resolution fails, and brackets IPv6 addresses', async () => {
    let fail = false;
    const warnings: string[] = [];
    const provider = new DnsPeerProvider({
      name: 'gateways.svc',
      port: 40001,
      intervalMillis: 60_000,
      scheme: 'wss',
      resolver: async () => {
        if (fail) throw new Error('SERVFAIL');
        return ['10.0.0.1', 'fd00::2', '10.0.0.1'];
      },
      logger: { ...console, warn: (_obj: object, msg?: string) => warnings.push(msg ?? '') },
    });
    await provider.start();
    expect(provider.peers().map((peer) => peer.url)).toEqual(['wss://10.0.0.1:40001', 'wss://[fd00::2]:40001']);
    fail = true;
    await provider.refresh();
    expect(provider.peers()).toHaveLength(2);
    expect(warnings).toEqual([expect.stringMatching(/resolution failed; keeping the last known peers/)]);
    await provider.stop();
  });

  it('takes DNS names as Kubernetes writes them, with a final dot, and IP addresses', () => {
    for (const name of [
      'gateways',
      'gateways.default.svc.cluster.local.',
      '_meshcache._tcp.example',
      '10.0.0.1',
      'fd00::1',
    ]) {
      expect(resolveDiscoveryConfig({ mode: 'dns', name, port: 40001 })).toMatchObject({ name });
    }
  });

  it('never has two resolutions in flight, and never lets an older answer replace a newer one (found by an attack)', async () => {
    vi.useFakeTimers();
    const answers: Array<(addresses: string[]) => void> = [];
    const provider = new DnsPeerProvider({
      name: 'gateways.svc',
      port: 40001,
      intervalMillis: 100,
      resolver: () => new Promise<string[]>((resolve) => answers.push(resolve)),
    });
    try {
      const started = provider.start();
      await vi.advanceTimersByTimeAsync(10 * 100);
      expect(answers).toHaveLength(1); // a server that does not answer: one lookup waits, no pile
      const refreshed = provider.refresh(); // a second asked by hand, answered first
      answers[1]?.(['10.0.0.2']);
      await refreshed;
      answers[0]?.(['10.0.0.1']); // the older answer, late
      await started;
      await vi.advanceTimersByTimeAsync(0);
      expect(provider.peers().map((peer) => peer.url)).toEqual(['ws://10.0.0.2:40001']);
    } finally {
      await provider.stop();
      vi.useRealTimers();
    }
  });

  it('starts without waiting past FIRST_ANSWER_WAIT_MILLIS for a server that does not answer, and takes the peers when it does (found by an attack: /healthz stayed closed)', async () => {
    vi.useFakeTimers();
    let answer: (addresses: string[]) => void = () => {};
    const provider = new DnsPeerProvider({
      name: 'gateways.svc',
      port: 40001,
      resolver: () => new Promise<string[]>((resolve) => (answer = resolve)),
    });
    try {
      let started = false;
      void provider.start().then(() => (started = true));
      await vi.advanceTimersByTimeAsync(FIRST_ANSWER_WAIT_MILLIS - 1);
      expect(started).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(started).toBe(true);
      expect(provider.peers()).toEqual([]);
      answer(['10.0.0.1']);
      await vi.advanceTimersByTimeAsync(0);
      expect(provider.peers().map((peer) => peer.url)).toEqual(['ws://10.0.0.1:40001']);
    } finally {
      await provider.stop();
      vi.useRealTimers();
    }
  });

  it('logs a resolution that keeps failing at warn once a minute, at debug between (a line each lookup before)', async () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const provider = new DnsPeerProvider({
      name: 'gateways.svc',
      port: 40001,
      intervalMillis: 100,
      resolver: async () => {
        throw new Error('ENOTFOUND');
      },
      logger: { debug: () => lines.push('debug'), info() {}, warn: () => lines.push('warn'), error() {} },
    });
    try {
      await provider.start();
      await vi.advanceTimersByTimeAsync(3000);
      expect(lines.filter((level) => level === 'warn')).toHaveLength(1);
      expect(lines.length).toBeGreaterThan(10);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(lines.filter((level) => level === 'warn')).toHaveLength(2);
    } finally {
      await provider.stop();
      vi.useRealTimers();
    }
  });

  it('resolves a real name through the system resolver (localhost)', async () => {
    const provider = new DnsPeerProvider({ name: 'localhost', port: 40001 });
    await provider.start();
    expect(provider.peers().map((peer) => peer.url)).toContain('ws://127.0.0.1:40001');
    await provider.stop();
  });
});

describe('peerDiscovery configuration', () => {
  it.each([
    [{ mode: 'multicast' }, 'peerDiscovery.mode'],
    [{ mode: 'manual', peers: 'ws://x:1' }, 'peerDiscovery.peers'],
    [{ mode: 'manual', peers: ['http://x:1'] }, 'peerDiscovery.peers[0]'],
    [{ mode: 'manual', peers: ['ws://x'] }, 'peerDiscovery.peers[0]'],
    // URL would read these as another address, or as every cache (found by a review).
    [{ mode: 'manual', peers: ['ws://1.2.3:80'] }, 'peerDiscovery.peers[0]'],
    [{ mode: 'manual', peers: ['ws://10.1:80'] }, 'peerDiscovery.peers[0]'],
    [{ mode: 'manual', peers: ['ws://10.0.0.256:80'] }, 'peerDiscovery.peers[0]'],
    [{ mode: 'manual', peers: ['ws://h:1/..'] }, 'peerDiscovery.peers[0]'],
    [{ mode: 'manual', peers: ['ws://h:1/tokens/..'] }, 'peerDiscovery.peers[0]'],
    [{ mode: 'manual', peers: ['ws://h:1/%2e%2E'] }, 'peerDiscovery.peers[0]'],
    [{ mode: 'manual', peers: [], name: 'x' }, 'peerDiscovery.name'],
    [{ mode: 'automatic', peerTimeoutMillis: 500, heartbeatIntervalMillis: 1000 }, 'peerDiscovery.peerTimeoutMillis'],
    [{ mode: 'automatic', heartbeatIntervalMillis: 'fast' }, 'peerDiscovery.heartbeatIntervalMillis'],
    [{ mode: 'automatic', multicastAddress: '10.0.0.1' }, 'peerDiscovery.multicastAddress'],
    [{ mode: 'automatic', multicastTtl: 0 }, 'peerDiscovery.multicastTtl'],
    // Both passed the config and failed only inside bonjour at start (found by the outside attack).
    [{ mode: 'automatic', multicastAddress: '239.999.1.1' }, 'peerDiscovery.multicastAddress'],
    [{ mode: 'automatic', interface: 'not-an-ip' }, 'peerDiscovery.interface'],
    [{ mode: 'automatic', interface: '::1' }, 'peerDiscovery.interface'],
    [{ mode: 'automatic', multicastAddress: '239.01.1.1' }, 'peerDiscovery.multicastAddress'],
    [{ mode: 'dns', name: 'svc', port: null }, 'peerDiscovery.port'],
    [{ mode: 'dns', port: 40001 }, 'peerDiscovery.name'],
    [{ mode: 'dns', name: 'svc' }, 'peerDiscovery.port'],
    [{ mode: 'dns', name: 'svc', port: 40001, intervalMillis: 5 }, 'peerDiscovery.intervalMillis'],
    // Each failed only at every lookup, a warning each (found by an attack).
    [{ mode: 'dns', name: 'gateways svc.example', port: 40001 }, 'peerDiscovery.name'],
    [{ mode: 'dns', name: 'http://gateways.example/', port: 40001 }, 'peerDiscovery.name'],
    [{ mode: 'dns', name: 'gateways.example\n', port: 40001 }, 'peerDiscovery.name'],
    [{ mode: 'dns', name: '-gateways.example', port: 40001 }, 'peerDiscovery.name'],
    [{ mode: 'dns', name: `${'a'.repeat(64)}.example`, port: 40001 }, 'peerDiscovery.name'],
    ['manual', 'peerDiscovery'],
  ])('refuses %j, naming %s', (raw, field) => {
    let error: unknown;
    try {
      resolveDiscoveryConfig(raw);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(field);
  });

  it('takes IPv4 addresses, names, IPv6 and cache paths with dots inside their names', () => {
    const peers = [
      'ws://10.0.0.1:7000',
      'ws://gw-1.internal:7000/tokens',
      'ws://[::1]:7000',
      'ws://h:1/v1.2',
      'ws://h:1/.hidden',
    ];
    const resolved = resolveDiscoveryConfig({ mode: 'manual', peers });
    expect(resolved.mode === 'manual' ? resolved.peers : []).toEqual([
      { url: 'ws://10.0.0.1:7000', cache: undefined },
      { url: 'ws://gw-1.internal:7000', cache: 'tokens' },
      { url: 'ws://[::1]:7000', cache: undefined },
      { url: 'ws://h:1', cache: 'v1.2' },
      { url: 'ws://h:1', cache: '.hidden' },
    ]);
  });

  it('fills in the documented defaults, and never makes automatic the default', () => {
    expect(resolveDiscoveryConfig(undefined)).toEqual({ mode: 'manual', peers: [] });
    expect(resolveDiscoveryConfig({ mode: 'automatic' })).toEqual({
      mode: 'automatic',
      heartbeatIntervalMillis: 1000,
      peerTimeoutMillis: 5000,
      interface: undefined,
      multicastAddress: '224.0.0.251',
      multicastPort: 5353,
      multicastTtl: 255,
    });
    expect(resolveDiscoveryConfig({ mode: 'dns', name: 'svc', port: 40001 })).toEqual({
      mode: 'dns',
      name: 'svc',
      port: 40001,
      intervalMillis: 5000,
    });
  });
});

describe('providers made in code (ClusterNode.start(config, { peerProvider }))', () => {
  // Constructing an MdnsPeerProvider opens nothing: multicast starts only at start(), never here.
  const mdns = { cluster: 'c', node: 'n', port: 40001, protocolVersion: 3 };
  it.each([
    // An interval of 0 or NaN resolved as fast as Node allows: a DNS lookup every millisecond.
    [() => new DnsPeerProvider({ name: 'svc', port: 40001, intervalMillis: 0 }), 'DnsPeerProvider.intervalMillis'],
    [
      () => new DnsPeerProvider({ name: 'svc', port: 40001, intervalMillis: Number.NaN }),
      'DnsPeerProvider.intervalMillis',
    ],
    [() => new DnsPeerProvider({ name: 'svc', port: 0 }), 'DnsPeerProvider.port'],
    [() => new DnsPeerProvider({ name: '', port: 40001 }), 'DnsPeerProvider.name'],
    [() => new MdnsPeerProvider({ ...mdns, heartbeatIntervalMillis: 0 }), 'MdnsPeerProvider.heartbeatIntervalMillis'],
    [() => new MdnsPeerProvider({ ...mdns, peerTimeoutMillis: 500 }), 'MdnsPeerProvider.peerTimeoutMillis'],
    [() => new MdnsPeerProvider({ ...mdns, multicastTtl: 256 }), 'MdnsPeerProvider.multicastTtl'],
    [() => new MdnsPeerProvider({ ...mdns, port: 0 }), 'MdnsPeerProvider.port'],
    // A URL string as the configuration writes it became a peer whose URL was undefined.
    [() => new ManualPeerProvider(['ws://127.0.0.1:40002'] as never), 'ManualPeerProvider.peers[0]'],
    [() => new ManualPeerProvider([]).update([{ url: 'http://x:1', cache: undefined }]), 'ManualPeerProvider.peers[0]'],
  ])('%#: refuses a bad option with a ConfigError naming it', (make, field) => {
    let thrown: unknown;
    try {
      make();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).field).toBe(field);
    expect((thrown as Error).message).toContain(`option "${field}"`);
  });

  it("takes good options, the tests' short intervals included", () => {
    expect(new DnsPeerProvider({ name: 'svc', port: 40001, intervalMillis: 20 }).mode).toBe('dns');
    expect(new MdnsPeerProvider({ ...mdns, heartbeatIntervalMillis: 200, peerTimeoutMillis: 1000 }).mode).toBe(
      'automatic',
    );
    expect(new ManualPeerProvider([{ url: 'ws://127.0.0.1:40002', cache: 'Response Cache' }]).mode).toBe('manual');
  });
});
