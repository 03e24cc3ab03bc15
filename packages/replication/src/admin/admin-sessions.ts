/**
 * The admin sessions a node has open, and the bounds that keep a leaked key (most likely a
 * dashboard's read-only secret) from taking the node, or the operators' own sessions, with it.
 *
 * - Room. At most MAX_ADMIN_SESSIONS are open at once (each holds a socket and its buffers). A
 *   read-only key cannot lock out the admin secret: a session that may do everything and finds no
 *   room closes the read-only session idle the longest. A read-only session that finds no room
 *   closes a read-only session idle for ADMIN_IDLE_MILLIS or more, or is refused; and one host
 *   (an IPv6 /64 counts as one) holds at most MAX_READ_ONLY_SESSIONS_PER_HOST read-only sessions,
 *   the idlest of them giving way to a newcomer from that host once idle as long. Refused and
 *   closed sessions see 4008.
 * - Memory. A session whose client has not read MAX_ADMIN_UNSENT_BYTES of answers is read no
 *   further until its client has read half of them: its next requests wait in its own socket
 *   (backpressure), so a dashboard sending a burst of large gets gets every answer. A client that
 *   reads nothing for ADMIN_STALL_MILLIS meanwhile, or lets twice the bound pile up (requests read
 *   before the pause took hold), is dropped. Over every admin session together, unsent answers are
 *   bounded by MAX_ADMIN_UNSENT_TOTAL_BYTES (64 sessions each at the per-session bound were 4
 *   GiB): past it, the read-only session holding the most goes (an admin-secret session only when
 *   no read-only one holds anything), checked as each request arrives and after each answer. A
 *   session that goes is dropped at once (CloseCode.Backlog): its close frame would queue behind
 *   the bytes its client does not read, and ws would keep them for its 30 s close timeout.
 * - Logs. A failed request is logged at info once a minute per host and code, at debug between,
 *   and a session closed for what its client sent at warn once a minute per host: a client that
 *   reconnects for every request does not get a line per request.
 *
 * Not guaranteed: that the busiest dashboard keeps its place. "Idle" counts from the last
 * request, so a dashboard polling every 30 s gives way before one asking every second.
 */
import type { Cancel, Logger, Scheduler } from '@meshcache/core';
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
 * Unsent bytes past which an admin session is read no further until its client has read half of
 * them (a whole answer is always sent: a `get` of a large value); twice as many drop it.
 */
export const MAX_ADMIN_UNSENT_BYTES = 64 * 1024 * 1024;
/** How long a held-back session may go without its client reading anything before it is dropped. */
export const ADMIN_STALL_MILLIS = 30_000;
/** How often a held-back session's unsent bytes are looked at. */
const DRAIN_CHECK_MILLIS = 20;
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
  /** The session is closed for what its client sent: logged at warn once a minute per host, at debug between. */
  refused(fields: Record<string, unknown>, message: string): void;
}

interface OpenSession {
  readonly session: Session;
  readonly grant: AdminClientGrant;
  readonly host: string;
  lastRequestAt: number;
  /** While reading is held back: the check of its unsent bytes, the fewest seen, and when they last fell. */
  drainCheck: Cancel | undefined;
  fewestUnsent: number;
  readSince: number;
}

export class AdminSessions {
  readonly #open = new Set<OpenSession>();
  readonly #scheduler: Scheduler;
  readonly #logger: Logger;
  readonly #once: OncePerWindow;

  constructor(options: {
    readonly scheduler: Scheduler;
    readonly logger: Logger;
    readonly oncePerMinute: OncePerWindow;
  }) {
    this.#scheduler = options.scheduler;
    this.#logger = options.logger;
    this.#once = options.oncePerMinute;
  }

  /**
   * Closes every admin session, saying why: a node stopping dropped them with its listener, and a
   * `meshcache peers --watch` ended on "1006" with no reason.
   */
  closeAll(reason: string): void {
    for (const open of [...this.#open]) open.session.close(CloseCode.GoingAway, reason);
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
      lastRequestAt: this.#scheduler.now(),
      drainCheck: undefined,
      fewestUnsent: 0,
      readSince: 0,
    };
    // Checked first: a newcomer already gone must not cost another session its place.
    if (!session.connection.open) return undefined;
    if (grant.readOnly && this.#readOnlyFrom(open.host) >= MAX_READ_ONLY_SESSIONS_PER_HOST) {
      // The host's own idlest read-only session gives way, if idle long enough: a dashboard that
      // leaked its clients, or many behind one NAT, must not lock the host out for good.
      const givesWay = this.#idlestReadOnly(open.lastRequestAt, (other) => other.host === open.host);
      if (givesWay === undefined) {
        return this.#refuse(open, `too many read-only admin sessions from ${open.host}`, {
          limit: MAX_READ_ONLY_SESSIONS_PER_HOST,
        });
      }
      this.#makeRoom(givesWay, open);
    }
    if (this.#open.size >= MAX_ADMIN_SESSIONS) {
      // For the admin secret, the read-only session idle the longest, however long; for a
      // read-only newcomer, one idle for ADMIN_IDLE_MILLIS at least.
      const givesWay = grant.readOnly
        ? this.#idlestReadOnly(open.lastRequestAt, () => true)
        : this.#idlestReadOnly(Number.POSITIVE_INFINITY, () => true);
      if (givesWay === undefined) {
        return this.#refuse(open, 'too many admin sessions', { limit: MAX_ADMIN_SESSIONS });
      }
      this.#makeRoom(givesWay, open);
    }
    this.#open.add(open);
    session.connection.onClose(() => this.#forget(open));
    return {
      requested: () => {
        open.lastRequestAt = this.#scheduler.now();
        return !this.#overBudget(open);
      },
      answered: () => {
        if (this.#overBudget(open)) return;
        if (open.drainCheck === undefined && open.session.connection.bufferedAmount > MAX_ADMIN_UNSENT_BYTES) {
          this.#holdBack(open);
        }
      },
      refused: (fields, message) => {
        if (this.#once.first(`admin ${message} ${open.host}`)) this.#logger.warn(fields, message);
        else this.#logger.debug(fields, message);
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

  /**
   * The read-only session idle the longest among those `among` picks and idle for
   * ADMIN_IDLE_MILLIS by `now` (pass Infinity for "however long"), if any.
   */
  #idlestReadOnly(now: number, among: (open: OpenSession) => boolean): OpenSession | undefined {
    let idlest: OpenSession | undefined;
    for (const open of this.#open) {
      if (!open.grant.readOnly || !among(open)) continue;
      if (idlest === undefined || open.lastRequestAt < idlest.lastRequestAt) idlest = open;
    }
    return idlest !== undefined && now - idlest.lastRequestAt >= ADMIN_IDLE_MILLIS ? idlest : undefined;
  }

  #makeRoom(givesWay: OpenSession, newcomer: OpenSession): void {
    this.#logger.info(
      { client: givesWay.grant.client, remote: givesWay.session.connection.remoteAddress, for: newcomer.grant.client },
      'no room for another admin session: closed the read-only session idle the longest',
    );
    this.#drop(givesWay, 'closed to make room for another admin session');
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

  /**
   * Reads no more of the session's requests until its client has read half its unsent answers;
   * drops it if the client reads nothing for ADMIN_STALL_MILLIS.
   */
  #holdBack(open: OpenSession): void {
    const connection = open.session.connection;
    connection.pauseReading();
    open.fewestUnsent = connection.bufferedAmount;
    open.readSince = this.#scheduler.now();
    const check = () => {
      open.drainCheck = undefined;
      if (!this.#open.has(open)) return;
      const unsent = connection.bufferedAmount;
      const now = this.#scheduler.now();
      if (unsent <= MAX_ADMIN_UNSENT_BYTES / 2) {
        connection.resumeReading();
        return;
      }
      if (unsent < open.fewestUnsent) {
        open.fewestUnsent = unsent;
        open.readSince = now;
      } else if (now - open.readSince >= ADMIN_STALL_MILLIS) {
        this.#logger.warn(
          { client: open.grant.client, unsent, stalledMillis: now - open.readSince },
          'admin client does not read its answers; closing its session',
        );
        this.#drop(open, 'answers not read');
        return;
      }
      open.drainCheck = this.#scheduler.setTimeout(check, DRAIN_CHECK_MILLIS);
    };
    open.drainCheck = this.#scheduler.setTimeout(check, DRAIN_CHECK_MILLIS);
  }

  /** True when `open` went: it, or every admin session together, holds too many unsent bytes. */
  #overBudget(open: OpenSession): boolean {
    const unsent = open.session.connection.bufferedAmount;
    if (unsent > 2 * MAX_ADMIN_UNSENT_BYTES) {
      this.#logger.warn(
        { client: open.grant.client, unsent, limit: 2 * MAX_ADMIN_UNSENT_BYTES },
        'admin client does not read its answers; closing its session',
      );
      this.#drop(open, 'too many unsent bytes');
      return true;
    }
    let total = 0;
    // The read-only session holding the most goes first: read-only keys filling the budget must
    // not cost an operator's large get its session. An admin-secret session goes only when no
    // read-only session holds anything.
    let heaviest: OpenSession | undefined;
    let heaviestUnsent = 0;
    for (const other of this.#open) {
      const held = other === open ? unsent : other.session.connection.bufferedAmount;
      total += held;
      if (held === 0) continue;
      const outranks =
        heaviest === undefined ||
        (other.grant.readOnly && !heaviest.grant.readOnly) ||
        (other.grant.readOnly === heaviest.grant.readOnly && held > heaviestUnsent);
      if (outranks) {
        heaviest = other;
        heaviestUnsent = held;
      }
    }
    if (total <= MAX_ADMIN_UNSENT_TOTAL_BYTES || heaviest === undefined) return false;
    this.#logger.warn(
      { client: heaviest.grant.client, unsent: heaviestUnsent, total, limit: MAX_ADMIN_UNSENT_TOTAL_BYTES },
      'admin clients together do not read their answers; closing the session holding the most',
    );
    this.#drop(heaviest, 'too many unsent bytes on this node');
    return heaviest === open;
  }

  #drop(open: OpenSession, reason: string): void {
    this.#forget(open);
    open.session.close(CloseCode.Backlog, reason);
  }

  #forget(open: OpenSession): void {
    this.#open.delete(open);
    open.drainCheck?.();
    open.drainCheck = undefined;
  }
}
