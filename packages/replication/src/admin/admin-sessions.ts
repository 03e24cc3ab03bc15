/**
 * The admin sessions a node has open, and the bounds that keep a leaked key (most likely a
 * dashboard's read-only secret) from taking the node, or the operators' own sessions, with it.
 *
 * - Room. At most MAX_ADMIN_SESSIONS are open at once (each holds a socket and its buffers). A
 *   read-only key cannot lock out the admin secret: a session that may do everything and finds no
 *   room closes the read-only session idle the longest. A read-only session that finds no room
 *   closes a read-only session idle for ADMIN_IDLE_MILLIS or more, or is refused; and one host
 *   holds at most MAX_READ_ONLY_SESSIONS_PER_HOST read-only sessions, so a leaked key used from
 *   one place leaves room for the dashboards elsewhere. Refused and closed sessions see 4008.
 * - Memory. Answers a client has not read are bounded per session (MAX_ADMIN_UNSENT_BYTES) and
 *   over every admin session together (MAX_ADMIN_UNSENT_TOTAL_BYTES: 64 sessions each at the
 *   per-session bound were 4 GiB), checked as each request arrives and after each answer. Past
 *   the per-session bound that session goes; past the total, the session holding the most. A
 *   session that goes is dropped at once (CloseCode.Backlog): its close frame would queue behind
 *   the bytes its client does not read, and ws would keep them for its 30 s close timeout.
 * - Logs. A failed request is logged at info once a minute per host and code, at debug between:
 *   a client that reconnects for every request does not get a line per request.
 *
 * Not guaranteed: a client that reads its answers slowly but steadily keeps its session; a burst
 * of large gets sent at once (more than MAX_ADMIN_UNSENT_BYTES of answers before the client has
 * read any) closes the session, so issue large gets one after another.
 */
import type { Logger } from '@meshcache/core';
import { hostOf, type OncePerWindow } from '../once-per-window.js';
import type { Session } from '../session.js';
import { CloseCode } from '../transport/transport.js';

/** Admin sessions (the CLI, dashboards) a node keeps open at once. */
export const MAX_ADMIN_SESSIONS = 64;
/** Read-only admin sessions one remote host may hold open at once. */
export const MAX_READ_ONLY_SESSIONS_PER_HOST = 16;
/** A read-only session without a request for this long gives way to a new one when the node is full. */
export const ADMIN_IDLE_MILLIS = 60_000;
/**
 * Unsent bytes one admin session may hold: a whole answer is always sent (a `get` of a large
 * value), and the next request waits for the client to read it.
 */
export const MAX_ADMIN_UNSENT_BYTES = 64 * 1024 * 1024;
/** Unsent bytes every admin session together may hold. */
export const MAX_ADMIN_UNSENT_TOTAL_BYTES = 256 * 1024 * 1024;

/** Who is asking: the client's name, and whether its key allows reading only. */
export interface AdminClientGrant {
  readonly client: string;
  readonly readOnly: boolean;
}

/** What serving one admitted session reports, so that the node can hold it to the bounds. */
export interface AdminSessionBounds {
  /** A request arrived: false when the session was dropped instead (its answers go unread). */
  requested(): boolean;
  /** An answer was sent. */
  answered(): void;
  /** A request failed with `code`. */
  failed(op: string, code: string): void;
}

interface OpenSession {
  readonly session: Session;
  readonly grant: AdminClientGrant;
  readonly host: string;
  lastRequestAt: number;
}

export class AdminSessions {
  readonly #open = new Set<OpenSession>();
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #once: OncePerWindow;

  constructor(options: { readonly now: () => number; readonly logger: Logger; readonly oncePerMinute: OncePerWindow }) {
    this.#now = options.now;
    this.#logger = options.logger;
    this.#once = options.oncePerMinute;
  }

  /** Admin sessions open now. */
  get size(): number {
    return this.#open.size;
  }

  /** Takes an established admin session in, making room if its grant allows; or drops it (4008) and returns undefined. */
  admit(session: Session, grant: AdminClientGrant): AdminSessionBounds | undefined {
    const open: OpenSession = {
      session,
      grant,
      host: hostOf(session.connection.remoteAddress),
      lastRequestAt: this.#now(),
    };
    if (grant.readOnly && this.#readOnlyFrom(open.host) >= MAX_READ_ONLY_SESSIONS_PER_HOST) {
      return this.#refuse(open, `too many read-only admin sessions from ${open.host}`, {
        limit: MAX_READ_ONLY_SESSIONS_PER_HOST,
      });
    }
    if (this.#open.size >= MAX_ADMIN_SESSIONS) {
      const givesWay = this.#givesWayTo(open);
      if (givesWay === undefined) {
        return this.#refuse(open, 'too many admin sessions', { limit: MAX_ADMIN_SESSIONS });
      }
      this.#logger.info(
        { client: givesWay.grant.client, for: grant.client },
        'admin sessions full: closed the read-only session idle the longest',
      );
      this.#drop(givesWay, 'closed to make room for another admin session');
    }
    if (!session.connection.open) return undefined;
    this.#open.add(open);
    session.connection.onClose(() => this.#open.delete(open));
    return {
      requested: () => {
        open.lastRequestAt = this.#now();
        return !this.#overBudget(open);
      },
      answered: () => {
        this.#overBudget(open);
      },
      failed: (op, code) => {
        const fields = { client: grant.client, remote: session.connection.remoteAddress, op, code };
        if (this.#once.first(`admin failure ${open.host} ${code}`)) {
          this.#logger.info(fields, 'admin request failed (logged again in a minute if this host keeps failing so)');
        } else this.#logger.debug(fields, 'admin request failed');
      },
    };
  }

  #readOnlyFrom(host: string): number {
    let count = 0;
    for (const open of this.#open) if (open.grant.readOnly && open.host === host) count++;
    return count;
  }

  /** The read-only session that gives way to `newcomer` on a full node, if any does. */
  #givesWayTo(newcomer: OpenSession): OpenSession | undefined {
    let idlest: OpenSession | undefined;
    for (const open of this.#open) {
      if (open.grant.readOnly && (idlest === undefined || open.lastRequestAt < idlest.lastRequestAt)) idlest = open;
    }
    if (idlest === undefined) return undefined;
    if (!newcomer.grant.readOnly) return idlest;
    return newcomer.lastRequestAt - idlest.lastRequestAt >= ADMIN_IDLE_MILLIS ? idlest : undefined;
  }

  #refuse(open: OpenSession, reason: string, fields: Record<string, unknown>): undefined {
    if (this.#once.first(`admin refused ${open.host}`)) {
      this.#logger.warn(
        { client: open.grant.client, remote: open.session.connection.remoteAddress, ...fields },
        `${reason}; refusing more (logged again in a minute if its host keeps trying)`,
      );
    }
    open.session.close(CloseCode.Backlog, reason);
    return undefined;
  }

  /** True when `open` went: it, or every admin session together, holds too many unsent bytes. */
  #overBudget(open: OpenSession): boolean {
    const unsent = open.session.connection.bufferedAmount;
    if (unsent > MAX_ADMIN_UNSENT_BYTES) {
      this.#logger.warn(
        { client: open.grant.client, unsent, limit: MAX_ADMIN_UNSENT_BYTES },
        'admin client does not read its answers; closing its session',
      );
      this.#drop(open, 'too many unsent bytes');
      return true;
    }
    let total = 0;
    let heaviest = open;
    let heaviestUnsent = unsent;
    for (const other of this.#open) {
      const held = other === open ? unsent : other.session.connection.bufferedAmount;
      total += held;
      if (held > heaviestUnsent) {
        heaviest = other;
        heaviestUnsent = held;
      }
    }
    if (total <= MAX_ADMIN_UNSENT_TOTAL_BYTES) return false;
    this.#logger.warn(
      { client: heaviest.grant.client, unsent: heaviestUnsent, total, limit: MAX_ADMIN_UNSENT_TOTAL_BYTES },
      'admin clients together do not read their answers; closing the session holding the most',
    );
    this.#drop(heaviest, 'too many unsent bytes on this node');
    return heaviest === open;
  }

  #drop(open: OpenSession, reason: string): void {
    this.#open.delete(open);
    open.session.close(CloseCode.Backlog, reason);
  }
}
