import { CacheManager } from '@meshcache/core';
import { VirtualScheduler } from '@meshcache/core/testing';
import { describe, expect, it } from 'vitest';
import { serveAdmin } from '../src/admin/admin-service.js';
import {
  ADMIN_IDLE_MILLIS,
  ADMIN_STALL_MILLIS,
  AdminSessions,
  MAX_ADMIN_SESSIONS,
  MAX_ADMIN_UNSENT_BYTES,
  MAX_ADMIN_UNSENT_TOTAL_BYTES,
  MAX_READ_ONLY_SESSIONS_PER_HOST,
} from '../src/admin/admin-sessions.js';
import { hostOf, OncePerWindow } from '../src/once-per-window.js';
import { MessageType } from '../src/protocol/messages.js';
import type { Session, SessionMessage } from '../src/session.js';

const MiB = 1024 * 1024;

/** A node's admin side over sessions whose sockets are counters: unsent bytes grow by `answerBytes` per answer. */
function harness() {
  const scheduler = new VirtualScheduler();
  const logged: Array<{ level: string; message: string }> = [];
  const log = (level: string) => (_: unknown, message: string) => logged.push({ level, message });
  const logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  const sessions = new AdminSessions({ scheduler, logger, oncePerMinute: new OncePerWindow(scheduler.now) });
  const manager = new CacheManager();
  manager.addCache('c').put('big', 'x');
  let ids = 0;

  function open(remoteAddress: string, readOnly: boolean, answerBytes = 0) {
    let onMessage: (message: SessionMessage) => void = () => {};
    const closeListeners: Array<(code: number, reason: string) => void> = [];
    const client = { unsent: 0, closed: [] as number[], answers: 0, paused: false };
    const session = {
      connection: {
        remoteAddress,
        get bufferedAmount() {
          return client.unsent;
        },
        get open() {
          return client.closed.length === 0;
        },
        onClose: (listener: (code: number, reason: string) => void) => closeListeners.push(listener),
        pauseReading: () => {
          client.paused = true;
        },
        resumeReading: () => {
          client.paused = false;
        },
      },
      onMessage: (listener: (message: SessionMessage) => void) => {
        onMessage = listener;
      },
      send: () => {
        client.answers++;
        client.unsent += answerBytes;
        return true;
      },
      close: (code: number) => {
        if (client.closed.length > 0) return;
        client.closed.push(code);
        for (const listener of closeListeners) listener(code, '');
      },
    } as unknown as Session;
    const grant = { client: `client-${ids}`, readOnly };
    const bounds = sessions.admit(session, grant);
    if (bounds !== undefined)
      serveAdmin(
        session,
        { manager, peers: () => [], replicationStatistics: () => null, replicationSettings: () => undefined },
        grant,
        bounds,
      );
    return {
      client,
      admitted: bounds !== undefined,
      close: () => session.close(1000),
      request: (op: string, args: unknown[]) =>
        onMessage({ type: MessageType.AdminRequest, id: ++ids, op, args } as SessionMessage),
      /** A message that is not an admin request (a peer's Sync). */
      misbehave: () => onMessage({ type: MessageType.Sync, id: ++ids } as SessionMessage),
    };
  }
  return { scheduler, sessions, logged, open };
}

describe('admin sessions: room', () => {
  it('keeps room for the admin secret: a read-only key holding every slot gives way (found by the outside attack)', () => {
    const { sessions, open } = harness();
    const readOnly = [];
    for (let i = 0; i < MAX_ADMIN_SESSIONS; i++) readOnly.push(open(`10.0.0.${i % 8}:${4000 + i}`, true));
    expect(readOnly.every((session) => session.admitted)).toBe(true);
    // Busy ones all: a read-only newcomer finds no room ...
    expect(open('10.0.1.1:5000', true).admitted).toBe(false);
    // ... but the admin secret's holder does: the read-only session idle the longest is closed.
    const operator = open('10.0.2.1:5000', false);
    expect(operator.admitted).toBe(true);
    expect(readOnly[0]?.client.closed).toEqual([4008]);
    expect(readOnly.filter((session) => session.client.closed.length > 0)).toHaveLength(1);
    expect(sessions.size).toBe(MAX_ADMIN_SESSIONS);
  });

  it('lets a read-only newcomer take the slot of a read-only session idle for ADMIN_IDLE_MILLIS', async () => {
    const { scheduler, open } = harness();
    const held = [];
    for (let i = 0; i < MAX_ADMIN_SESSIONS; i++) held.push(open(`10.0.0.${i % 8}:${4000 + i}`, true));
    await scheduler.advance(ADMIN_IDLE_MILLIS - 1);
    for (const session of held.slice(1)) session.request('peers', []);
    expect(open('10.0.1.1:5000', true).admitted).toBe(false);
    await scheduler.advance(1);
    expect(open('10.0.1.1:5001', true).admitted).toBe(true);
    expect(held[0]?.client.closed).toEqual([4008]);
  });

  it(`holds one host to MAX_READ_ONLY_SESSIONS_PER_HOST read-only sessions, not the admin secret's`, () => {
    const { open, logged } = harness();
    for (let i = 0; i < MAX_READ_ONLY_SESSIONS_PER_HOST; i++)
      expect(open(`10.0.0.1:${4000 + i}`, true).admitted).toBe(true);
    const refused = open('10.0.0.1:5000', true);
    expect(refused.admitted).toBe(false);
    expect(refused.client.closed).toEqual([4008]);
    expect(open('10.0.0.1:5001', true).admitted).toBe(false);
    expect(logged.filter((line) => line.level === 'warn')).toHaveLength(1); // once a minute per host
    expect(open('10.0.0.2:5000', true).admitted).toBe(true);
    expect(open('10.0.0.1:5002', false).admitted).toBe(true);
  });

  it('lets a read-only newcomer replace the idlest read-only session of its own host once it idled a minute (found by the second attack: 16 idle sessions locked their host out for good)', async () => {
    const { scheduler, open } = harness();
    const held = [];
    for (let i = 0; i < MAX_READ_ONLY_SESSIONS_PER_HOST; i++) held.push(open(`10.0.0.1:${4000 + i}`, true));
    await scheduler.advance(ADMIN_IDLE_MILLIS - 1);
    for (const session of held.slice(1)) session.request('peers', []);
    expect(open('10.0.0.1:5000', true).admitted).toBe(false);
    await scheduler.advance(1);
    expect(open('10.0.0.1:5001', true).admitted).toBe(true);
    expect(held[0]?.client.closed).toEqual([4008]);
    expect(held.filter((session) => session.client.closed.length > 0)).toHaveLength(1);
  });

  it('counts an IPv6 host by its /64, and an IPv4 address mapped into IPv6 as itself', () => {
    expect(hostOf('2001:db8:1:2:aaaa::1:51234')).toBe('2001:db8:1:2::/64');
    expect(hostOf('2001:0db8:0001:0002:ffff:0:0:9:51234')).toBe('2001:db8:1:2::/64');
    expect(hostOf('::1:51234')).toBe('0:0:0:0::/64');
    expect(hostOf('::ffff:10.1.2.3:51234')).toBe('10.1.2.3');
    expect(hostOf('10.1.2.3:51234')).toBe('10.1.2.3');
    expect(hostOf('?:?')).toBe('?');
    expect(hostOf('memory-client-3')).toBe('memory-client-3');
    const { open } = harness();
    for (let i = 0; i < MAX_READ_ONLY_SESSIONS_PER_HOST; i++) {
      expect(open(`2001:db8:1:2::${(i + 1).toString(16)}:4000`, true).admitted).toBe(true);
    }
    expect(open('2001:db8:1:2::ffff:4000', true).admitted).toBe(false);
    expect(open('2001:db8:1:3::1:4000', true).admitted).toBe(true);
  });

  it('refuses an admin newcomer when every slot holds a session of the admin secret', () => {
    const { open } = harness();
    for (let i = 0; i < MAX_ADMIN_SESSIONS; i++) open(`10.0.0.1:${4000 + i}`, false);
    const late = open('10.0.0.2:5000', false);
    expect(late.admitted).toBe(false);
    expect(late.client.closed).toEqual([4008]);
  });
});

describe('admin sessions: unsent answers', () => {
  it('reads no more of a session past MAX_ADMIN_UNSENT_BYTES unsent until its client reads half, and keeps it', async () => {
    // A burst of large gets sent at once: each is answered in turn as the client reads.
    const { scheduler, open } = harness();
    const dashboard = open('10.0.0.1:4000', true, 4 * MiB);
    const past = Math.floor(MAX_ADMIN_UNSENT_BYTES / (4 * MiB)) + 1;
    for (let i = 0; i < past; i++) dashboard.request('get', ['c', 'big']);
    expect(dashboard.client.paused).toBe(true);
    await scheduler.advance(1000);
    expect(dashboard.client.paused).toBe(true); // nothing read yet
    dashboard.client.unsent = MAX_ADMIN_UNSENT_BYTES / 2;
    await scheduler.advance(100);
    expect(dashboard.client.paused).toBe(false);
    expect(dashboard.client.closed).toEqual([]);
  });

  it('drops a held-back session whose client reads nothing for ADMIN_STALL_MILLIS (a read-only client took a node to 2 GB; found by the outside attack)', async () => {
    const { scheduler, open, logged } = harness();
    const dashboard = open('10.0.0.1:4000', true, 4 * MiB);
    for (let i = 0; i <= MAX_ADMIN_UNSENT_BYTES / (4 * MiB); i++) dashboard.request('get', ['c', 'big']);
    expect(dashboard.client.paused).toBe(true);
    await scheduler.advance(ADMIN_STALL_MILLIS / 2);
    dashboard.client.unsent -= MiB; // it reads a little: the stall counts from here
    await scheduler.advance(ADMIN_STALL_MILLIS - 100);
    expect(dashboard.client.closed).toEqual([]);
    await scheduler.advance(200);
    expect(dashboard.client.closed).toEqual([4008]);
    expect(logged.map((line) => line.message)).toContain('admin client does not read its answers; closing its session');
  });

  it('drops a session at twice MAX_ADMIN_UNSENT_BYTES unsent (requests read before the pause took hold)', () => {
    const { open } = harness();
    const dashboard = open('10.0.0.1:4000', true, 4 * MiB);
    const past = Math.floor((2 * MAX_ADMIN_UNSENT_BYTES) / (4 * MiB)) + 1;
    for (let i = 0; i < past; i++) dashboard.request('get', ['c', 'big']);
    // Closed after the answer that took it past, not at a next request that may never come.
    expect(dashboard.client.answers).toBe(past);
    expect(dashboard.client.closed).toEqual([4008]);
  });

  it('bounds the unsent answers of every session together: the one holding the most goes (64 sessions at the bound were 4 GiB)', () => {
    const { open, sessions } = harness();
    const perSession = 15 * MiB;
    const count = Math.floor(MAX_ADMIN_UNSENT_TOTAL_BYTES / (4 * perSession)) + 1;
    const clients = Array.from({ length: count }, (_, i) => open(`10.0.${i}.1:4000`, true, perSession));
    // Each asks until it holds 60 MiB unread (under its own bound), the last one 45 MiB: together past the total.
    for (const [i, client] of clients.entries()) {
      for (let n = 0; n < (i === count - 1 ? 3 : 4); n++) client.request('get', ['c', 'big']);
    }
    const closed = clients.filter((client) => client.client.closed.length > 0);
    expect(closed).toHaveLength(1);
    expect(closed[0]).toBe(clients[0]); // the first to hold the most
    expect(sessions.size).toBe(count - 1);
  });
});

describe('admin sessions: unsent answers, who goes', () => {
  it("drops the read-only session holding the most over the total, not an operator's large get (found by the second attack)", () => {
    const { open } = harness();
    // 20 dashboards from 20 hosts hold 12 MiB each, 240 MiB; the operator's one answer of 20 MiB
    // passes the total, and is by itself the session holding the most.
    const dashboards = Array.from({ length: 20 }, (_, i) => open(`10.0.${i}.1:4000`, true, 4 * MiB));
    for (const dashboard of dashboards) for (let n = 0; n < 3; n++) dashboard.request('get', ['c', 'big']);
    const operator = open('10.0.99.1:4000', false, 20 * MiB);
    operator.request('get', ['c', 'big']);
    expect(operator.client.closed).toEqual([]);
    expect(dashboards.filter((dashboard) => dashboard.client.closed.length > 0)).toHaveLength(1);
  });
});

describe('admin sessions: logs', () => {
  it('logs a session closed for a non-admin message at warn once a minute per host (a line per reconnection before)', () => {
    const { open, logged } = harness();
    for (let reconnect = 0; reconnect < 20; reconnect++) open(`10.0.0.1:${4000 + reconnect}`, true).misbehave();
    const warned = logged.filter((line) => line.level === 'warn' && /non-admin message/.test(line.message));
    expect(warned).toHaveLength(1);
    expect(logged.filter((line) => /non-admin message/.test(line.message))).toHaveLength(20);
  });

  it('logs failed requests at info once a minute per host and code, across reconnections (5,000 forbidden puts were 5,000 lines)', async () => {
    const { scheduler, open, logged } = harness();
    const info = () => logged.filter((line) => line.level === 'info').length;
    for (let reconnect = 0; reconnect < 50; reconnect++) {
      const session = open(`10.0.0.1:${4000 + reconnect}`, true);
      session.request('put', ['c', 'k', 'v']); // E_FORBIDDEN
      session.close();
    }
    expect(info()).toBe(1);
    open('10.0.0.1:5000', true).request('get', ['nope', 'k']); // another code
    open('10.0.0.2:5000', true).request('put', ['c', 'k', 'v']); // another host
    expect(info()).toBe(3);
    await scheduler.advance(60_000);
    open('10.0.0.1:5001', true).request('put', ['c', 'k', 'v']);
    expect(info()).toBe(4);
  });
});
