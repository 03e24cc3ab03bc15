import { CacheManager, ManualClock } from '@meshcache/core';
import { describe, expect, it } from 'vitest';
import { serveAdmin } from '../src/admin/admin-service.js';
import {
  ADMIN_IDLE_MILLIS,
  AdminSessions,
  MAX_ADMIN_SESSIONS,
  MAX_ADMIN_UNSENT_BYTES,
  MAX_ADMIN_UNSENT_TOTAL_BYTES,
  MAX_READ_ONLY_SESSIONS_PER_HOST,
} from '../src/admin/admin-sessions.js';
import { OncePerWindow } from '../src/once-per-window.js';
import { MessageType } from '../src/protocol/messages.js';
import type { Session, SessionMessage } from '../src/session.js';

const MiB = 1024 * 1024;

/** A node's admin side over sessions whose sockets are counters: unsent bytes grow by `answerBytes` per answer. */
function harness() {
  const clock = new ManualClock(1_000_000);
  const logged: Array<{ level: string; message: string }> = [];
  const log = (level: string) => (_: unknown, message: string) => logged.push({ level, message });
  const logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  const sessions = new AdminSessions({ now: clock.now, logger, oncePerMinute: new OncePerWindow(clock.now) });
  const manager = new CacheManager();
  manager.addCache('c').put('big', 'x');
  let ids = 0;

  function open(remoteAddress: string, readOnly: boolean, answerBytes = 0) {
    let onMessage: (message: SessionMessage) => void = () => {};
    const closeListeners: Array<(code: number, reason: string) => void> = [];
    const client = { unsent: 0, closed: [] as number[], answers: 0 };
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
      },
      onMessage: (listener: (message: SessionMessage) => void) => {
        onMessage = listener;
      },
      send: () => {
        client.answers++;
        client.unsent += answerBytes;
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
      serveAdmin(session, { manager, peers: () => [], replicationStatistics: () => null }, logger, grant, bounds);
    return {
      client,
      admitted: bounds !== undefined,
      close: () => session.close(1000),
      request: (op: string, args: unknown[]) =>
        onMessage({ type: MessageType.AdminRequest, id: ++ids, op, args } as SessionMessage),
    };
  }
  return { clock, sessions, logged, open };
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

  it('lets a read-only newcomer take the slot of a read-only session idle for ADMIN_IDLE_MILLIS', () => {
    const { clock, open } = harness();
    const held = [];
    for (let i = 0; i < MAX_ADMIN_SESSIONS; i++) held.push(open(`10.0.0.${i % 8}:${4000 + i}`, true));
    clock.advance(ADMIN_IDLE_MILLIS - 1);
    for (const session of held.slice(1)) session.request('peers', []);
    expect(open('10.0.1.1:5000', true).admitted).toBe(false);
    clock.advance(1);
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

  it('refuses an admin newcomer when every slot holds a session of the admin secret', () => {
    const { open } = harness();
    for (let i = 0; i < MAX_ADMIN_SESSIONS; i++) open(`10.0.0.1:${4000 + i}`, false);
    const late = open('10.0.0.2:5000', false);
    expect(late.admitted).toBe(false);
    expect(late.client.closed).toEqual([4008]);
  });
});

describe('admin sessions: unsent answers', () => {
  it('closes a session whose client does not read its answers, past MAX_ADMIN_UNSENT_BYTES (found by the outside attack)', () => {
    // A read-only client asking again and again for a large value it never read took a node to 2 GB.
    const { open, logged } = harness();
    const dashboard = open('10.0.0.1:4000', true, 4 * MiB);
    const past = Math.floor(MAX_ADMIN_UNSENT_BYTES / (4 * MiB)) + 1;
    for (let i = 0; i < past; i++) dashboard.request('get', ['c', 'big']);
    // Closed after the answer that took it past the bound, not at a next request that may never come.
    expect(dashboard.client.answers).toBe(past);
    expect(dashboard.client.closed).toEqual([4008]);
    expect(logged.map((line) => line.message)).toContain('admin client does not read its answers; closing its session');
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

describe('admin sessions: logs', () => {
  it('logs failed requests at info once a minute per host and code, across reconnections (5,000 forbidden puts were 5,000 lines)', () => {
    const { clock, open, logged } = harness();
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
    clock.advance(60_000);
    open('10.0.0.1:5001', true).request('put', ['c', 'k', 'v']);
    expect(info()).toBe(4);
  });
});
