/**
 * A session is one authenticated, encrypted connection between a dialler and a listener: the
 * handshake, then protected frames carrying decoded, validated messages to whoever drives the
 * link.
 *
 * The handshake is Noise NNpsk0 (security/noise.ts) with explicit roles:
 *   1. the dialler sends Hello: its ephemeral key and, encrypted under the pre-shared key, the
 *      protocol versions it speaks, the role it asks for (peer or admin), its cluster, name and
 *      listener URL;
 *   2. the listener tries each key of its keyring; if none decrypts the Hello, it closes (4003)
 *      without having sent anything. Otherwise it checks the versions, the cluster, that the
 *      dialler does not use the listener's own name, and what the key grants; then it answers
 *      Welcome: its ephemeral key and, encrypted under keys that now depend on both ephemerals,
 *      the chosen version, the grant, its cluster, name and URL;
 *   3. the dialler checks the Welcome and sends its first protected frame (empty): only then
 *      does the listener count the session as established, because a replayed Hello decrypts
 *      but its replayer cannot produce that frame.
 * Everything both sides said is in the transcript the keys depend on, so reflection, relay,
 * replay and downgrade all end in a failed decryption (docs/security.md says why for each).
 *
 * Before it is established, a session reads nothing but those three frames, each judged on its
 * length and header bytes and then by decryption: no frame is decoded as msgpack before its
 * sender proved the key. Afterwards every frame is AES-256-GCM under its direction's key and
 * counter (security/frame-protection.ts), then guarded and decoded (protocol/codec.ts).
 *
 * A node recognises itself: a dialler that reaches its own listener (a DNS name that includes
 * this node) gets a Welcome naming itself, which only a listener that knows the dialler's
 * ephemeral key sends; another process using this node's name is refused instead.
 *
 * Failures close the connection with a code and a fixed reason that never repeats anything the
 * other side sent: 4003 authentication failed, 4002 protocol error (and the reason says which).
 * Nothing from the peer reaches a cache before the session is established.
 */
import {
  type Cancel,
  type Logger,
  MeshcacheError,
  type Scheduler,
  silentLogger,
  systemScheduler,
} from '@meshcache/core';
import { hostOf } from './once-per-window.js';
import { MAX_SENT_FRAME_BYTES, WireCodec } from './protocol/codec.js';
import type { FrameValues } from './protocol/frame-values.js';
import { type Message, MessageType } from './protocol/messages.js';
import { PROTOCOL_VERSIONS } from './protocol/versions.js';
import { FrameProtection } from './security/frame-protection.js';
import {
  decodeHello,
  decodeWelcome,
  encodeHello,
  encodeWelcome,
  frame,
  HELLO,
  PROLOGUE,
  unframe,
  WELCOME,
  type WelcomePayload,
} from './security/handshake-messages.js';
import type { Keyring, SessionGrant, SessionRole } from './security/keyring.js';
import {
  type EphemeralKey,
  generateEphemeral,
  initialState,
  NoiseError,
  readFirst,
  readSecond,
  type SymmetricState,
  TAGLEN,
  writeFirst,
  writeSecond,
} from './security/noise.js';
import { SealedFramePool } from './security/sealed-frame-pool.js';
import { CloseCode, type Connection } from './transport/transport.js';

export { PROTOCOL_VERSIONS } from './protocol/versions.js';

export interface LocalIdentity {
  readonly cluster: string;
  readonly node: string;
  /** This node's listener URL ('' for a client such as the CLI). */
  readonly url: string;
  /** What a dialler asks to be: 'admin' for a client that only sends admin requests. @default 'peer' */
  readonly role?: SessionRole;
}

export interface PeerIdentity {
  readonly node: string;
  readonly url: string;
  readonly role: SessionRole;
  /** What the listener granted: a peer, or an admin client with every operation or reading only. */
  readonly grant: SessionGrant;
  /** The cluster both sides agreed on (for an admin client: the node's). */
  readonly cluster: string;
  /** The protocol version the session speaks. */
  readonly protocol: number;
}

/**
 * The ephemeral keys of this node's dials still in their handshake, shared by its diallers and
 * its listener, so that a node that dials itself knows it.
 */
export class OwnEphemerals {
  readonly #keys = new Set<string>();

  add(publicKey: Buffer): void {
    this.#keys.add(publicKey.toString('hex'));
  }

  delete(publicKey: Buffer): void {
    this.#keys.delete(publicKey.toString('hex'));
  }

  has(publicKey: Uint8Array): boolean {
    return this.#keys.has(Buffer.from(publicKey).toString('hex'));
  }
}

export interface SessionOptions {
  /** Who speaks first. */
  readonly side: 'dialler' | 'listener';
  readonly local: LocalIdentity;
  readonly keyring: Keyring;
  /** The whole handshake must finish within this many ms. */
  readonly timeoutMillis: number;
  /** The versions this side speaks. @default PROTOCOL_VERSIONS */
  readonly protocols?: { readonly min: number; readonly max: number };
  /** Shared by one node's sessions, so that a node recognises its own dial. */
  readonly ownEphemerals?: OwnEphemerals;
  /** Frames per direction between two rekeys. @default 2^20 */
  readonly rekeyInterval?: number;
  /** Where a refused frame or handshake is explained (the close reason never says more than its kind). */
  readonly logger?: Logger;
  /** The handshake's timer. @default system */
  readonly scheduler?: Scheduler;
  /**
   * false: after the handshake, frames travel unencrypted. Only for measuring what frame
   * protection costs (bench/src/replication.ts); both ends must say so, or the link fails.
   * @default true
   */
  readonly protectFrames?: boolean;
  /**
   * false: put values of batches and repairs are decoded as they arrive, not left for a cache's
   * first read of them (frame-values.ts). @default true
   */
  readonly deferValues?: boolean;
  /**
   * Says whether a refusal of an authenticated peer's message is logged at warn this time (once a
   * minute per host, the node's choice) or at debug: a key holder who reconnects to send one bad
   * message each time must not get a warning line each time. @default every time
   */
  readonly warnNow?: (what: string) => boolean;
}

/** What the link receives once the session is established. */
export type SessionMessage = Message;

/**
 * What a message handler answers: nothing when it handled the message there and then, or a
 * promise of when it has (a link applying a large frame a slice at a time, yielding to the event
 * loop between slices). Until that promise settles, later frames wait, in order and undecoded.
 */
export type Handling = void | Promise<void>;

/**
 * While a handler is still handling a message, the frames read meanwhile wait for it; past this
 * many bytes (or WAITING_MOST_FRAMES frames) the session stops reading the connection, so the
 * sender's bytes wait in its own buffers and the kernel's rather than in this node's memory, and
 * reads again once half of them are handled. The bound is checked as a frame is kept, so what
 * waits can pass it by one frame (up to the transport's largest) and what the socket had already
 * read when reading stopped.
 */
const WAITING_MOST_BYTES = 4 << 20;
const WAITING_MOST_FRAMES = 1024;
/**
 * Frames that waited are handled up to this many bytes a turn of the event loop (a frame of a
 * thousand small changes, about a millisecond's work), the rest on the next (#handleWaitingLater).
 */
const WAITING_TURN_BYTES = 64 << 10;

/**
 * The largest frame a listener reads from an admin client of the read-only secret, checked before
 * the frame is decrypted or decoded. What such a client may ask (peers, stats, get of one key)
 * takes a few hundred bytes; the 16 MiB a peer or the admin secret may send (a put of a large
 * value) let a leaked dashboard key hold the node's event loop: 16 sessions of 13 MB frames of
 * nested arrays (over a second of decoding each) stalled it until its peers dropped their links
 * and could not relink for half a minute (found by an outside audit). Past it: closed with 1009.
 */
export const READ_ONLY_MAX_FRAME_BYTES = 64 * 1024;

export type HandshakeErrorCode = 'E_AUTH' | 'E_PROTOCOL' | 'E_TIMEOUT' | 'E_SELF';

export class HandshakeError extends MeshcacheError {
  constructor(code: HandshakeErrorCode, message: string) {
    super(code, message);
    this.name = 'HandshakeError';
  }
}

type State =
  | { readonly name: 'awaiting hello' }
  | { readonly name: 'awaiting welcome'; readonly noise: SymmetricState; readonly ephemeral: EphemeralKey }
  | { readonly name: 'awaiting confirm'; readonly protection: FrameProtection; readonly peer: PeerIdentity }
  | { readonly name: 'established'; readonly protection: FrameProtection; readonly maxFrameBytes: number }
  | { readonly name: 'closed' };

/**
 * The confirmation's plaintext: empty, or one zero byte from a dialler that leaves later frames
 * unencrypted (protectFrames: false), so that two ends that disagree fail at the handshake. The
 * Confirm is sealed either way: it is what proves the dialler holds the session keys. Sent in
 * clear when frames were not protected, it was an empty frame anyone could send, and a recorded
 * Hello replayed with one established a peer session without the secret (found by an outside
 * audit).
 */
/** The process's buffers for sealed frames, used again once a transport has written them. */
const SEALED_FRAMES = new SealedFramePool();

const CONFIRM_PROTECTED = Buffer.alloc(0);
const CONFIRM_UNPROTECTED = Buffer.of(0);

/**
 * Why a listener refuses a handshake, as it says in its close frame: fixed texts that tell an
 * operator what to fix and nothing else (the versions each side speaks stay in the listener's
 * log). "no common protocol version" and "cluster mismatch" are said only to a dialler that
 * proved it holds a secret of the cluster.
 */
const HANDSHAKE_REFUSALS: ReadonlySet<string> = new Set([
  'authentication failed',
  'no common protocol version',
  'cluster mismatch',
  'another node uses this node name',
  'the listener granted another role',
  'dialled itself',
]);

export class Session {
  readonly connection: Connection;
  /** Put values of batches and repairs are left undecoded until a cache's first read of them (frame-values.ts). */
  readonly #codec: WireCodec;
  readonly #options: SessionOptions;
  readonly #protocols: { readonly min: number; readonly max: number };
  #state: State;
  #handler: ((message: SessionMessage) => Handling) | undefined;
  /**
   * Messages that arrived after the handshake but before a handler was set; none are lost. Each
   * with the values it left undecoded, settled once it is handled (frame-values.ts).
   */
  #early: Array<{ readonly message: SessionMessage; readonly values: FrameValues | undefined }> = [];
  /** The handler has not finished the message it was handed last (it answered a promise). */
  #busy = false;
  /** Frames that arrived while the handler was busy, still protected, in order; and their bytes. */
  #waiting: Uint8Array[] = [];
  #waitingBytes = 0;
  /** Reading was paused because too much waits (WAITING_MOST_BYTES). */
  #pausedForWaiting = false;
  readonly #established: Promise<PeerIdentity>;
  #settle!: { resolve: (peer: PeerIdentity) => void; reject: (error: HandshakeError) => void };
  #cancelTimer: Cancel | undefined;
  readonly #scheduler: Scheduler;

  /** Starts the handshake at once; `established` settles when it ends either way. */
  constructor(connection: Connection, options: SessionOptions) {
    this.connection = connection;
    this.#options = options;
    this.#scheduler = options.scheduler ?? systemScheduler;
    this.#codec = new WireCodec({ deferValues: options.deferValues !== false });
    this.#protocols = options.protocols ?? PROTOCOL_VERSIONS;
    this.#established = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.#established.catch(() => {}); // observed through `established`; never unhandled
    this.#cancelTimer = this.#scheduler.setTimeout(
      () => this.#fail('E_TIMEOUT', CloseCode.ProtocolError, 'handshake timed out'),
      options.timeoutMillis,
    );
    if (options.side === 'dialler') {
      const noise = initialState(PROLOGUE);
      const ephemeral = generateEphemeral();
      options.ownEphemerals?.add(ephemeral.publicKey);
      const hello = encodeHello({
        minProtocol: this.#protocols.min,
        maxProtocol: this.#protocols.max,
        role: options.local.role ?? 'peer',
        cluster: options.local.role === 'admin' ? '' : options.local.cluster,
        node: options.local.node,
        url: options.local.url,
      });
      this.#state = { name: 'awaiting welcome', noise, ephemeral };
      connection.send(frame(HELLO, writeFirst(noise, options.keyring.dialKey, ephemeral, hello)));
    } else {
      this.#state = { name: 'awaiting hello' };
    }
    connection.onFrame((bytes) => this.#receive(bytes));
    connection.onClose((code, reason) => {
      const before = this.#state;
      this.#closed();
      if (before.name !== 'established') {
        // The other side's reason, when it is one of the handshake's own fixed texts (never any
        // text a peer chose, which would go into logs as it came): a node held to another
        // protocol version looked merely unreachable from this side.
        const why = HANDSHAKE_REFUSALS.has(reason) ? ` ${reason}` : '';
        this.#settle.reject(
          new HandshakeError(
            code === CloseCode.AuthFailed
              ? 'E_AUTH'
              : code === CloseCode.Self && this.#dialledSelf(before)
                ? 'E_SELF'
                : 'E_PROTOCOL',
            `the other side closed the connection during the handshake (${code}${why})`,
          ),
        );
      }
    });
    // A connection already closed runs no close listener added now: the handshake would wait
    // out its timer (a dial that waited for a slot while the peer gave up on it held that slot).
    if (!connection.open) this.#fail('E_PROTOCOL', CloseCode.Normal, 'the connection was already closed');
  }

  /**
   * Whether a close with CloseCode.Self, in handshake state `state`, says what it claims: this
   * node dialled itself. A close code carries no authentication: anyone the dial reached (a stray
   * process on the port, whoever is on the path of a ws:// link) could send it, and a dialler that
   * took it at its word never dialled that address again. So a dialler learns it dialled itself
   * only from an authenticated Welcome naming it (#onWelcome), never from a close; a listener
   * believes the close only from the dial whose Hello named this node with one of this node's own
   * ephemeral keys (its own dial, which its Welcome answered).
   */
  #dialledSelf(state: State): boolean {
    return state.name === 'awaiting confirm' && state.peer.node === this.#options.local.node;
  }

  get established(): Promise<PeerIdentity> {
    return this.#established;
  }

  /**
   * Who receives the peer's messages once the handshake is done: one at a time, in the order they
   * were sent. A handler that answers a promise (Handling) gets the next message once it settles.
   */
  onMessage(handler: (message: SessionMessage) => Handling): void {
    this.#handler = handler;
    this.#handleWaiting();
  }

  /**
   * Encodes, protects and sends a message. Ignored unless the session is established and open.
   *
   * A frame past MAX_SENT_FRAME_BYTES would make the peer close the link (1009), and the repair
   * that follows would send it again: a link that flaps for as long as the entry lives. Batches are
   * bounded by estimates of their changes' sizes, and values by an estimate at put; this is the
   * check on the real bytes, whatever the estimates said. A batch of changes past it is sent as
   * two halves; one change alone past it is not sent, and says so (it stays on this node).
   * Returns whether it went (all of it): false for a session not established or closed, and for
   * a message past a frame that could not be halved.
   */
  send(message: SessionMessage): boolean {
    const state = this.#state;
    if (state.name !== 'established' || !this.connection.open) return false;
    // Sealed at once, the plaintext need not outlive this call (frames sent unencrypted must).
    const frame = state.protection.encrypts ? this.#codec.encodeTransient(message) : this.#codec.encode(message);
    if (frame.length > MAX_SENT_FRAME_BYTES) return this.#sendInHalves(message, frame.length);
    const sealed = state.protection.seal(frame, SEALED_FRAMES);
    this.connection.send(sealed, SEALED_FRAMES.returnerOf(sealed));
    return true;
  }

  /** A message past a frame: a batch in halves (true), anything else not at all (false). */
  #sendInHalves(message: SessionMessage, bytes: number): boolean {
    const batch = message.type === MessageType.Batch || message.type === MessageType.Entries ? message : undefined;
    if (batch !== undefined && batch.changes.length > 1) {
      const half = Math.ceil(batch.changes.length / 2);
      const first = this.send({ type: batch.type, changes: batch.changes.slice(0, half) });
      const second = this.send({ type: batch.type, changes: batch.changes.slice(half) });
      return first && second;
    }
    const change = batch?.changes[0];
    // A change left out is this node's to report; any other message (an admin answer) is its
    // sender's, who says so to the other side, and a client asking again must not fill the log.
    this.#logger[batch === undefined ? 'debug' : 'error'](
      {
        remote: this.connection.remoteAddress,
        messageType: message.type,
        cache: change?.cache,
        key: change !== undefined && change.type !== MessageType.RemoveAll ? change.key : undefined,
        bytes,
        maxBytes: MAX_SENT_FRAME_BYTES,
      },
      batch === undefined
        ? 'a message too large for one frame was not sent'
        : 'a change too large for one frame was not sent to the peer',
    );
    return false;
  }

  close(code: number = CloseCode.Normal, reason = ''): void {
    this.#closed();
    this.connection.close(code, reason);
  }

  /** No frame, however bad, may throw out of the socket's callback and end the process. */
  #receive(bytes: Uint8Array): void {
    this.#guarded(() => this.#dispatch(bytes));
  }

  #guarded(handle: () => void): void {
    try {
      handle();
    } catch (error) {
      this.#couldNotHandle(error);
    }
  }

  /** A frame whose handling failed (threw, or its promise rejected): logged, and the session closed. */
  #couldNotHandle(error: unknown): void {
    this.#logger.error({ remote: this.connection.remoteAddress, err: error }, 'could not handle a frame; closing');
    this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'internal error');
  }

  #dispatch(bytes: Uint8Array): void {
    const state = this.#state;
    switch (state.name) {
      case 'awaiting hello':
        this.#onHello(bytes);
        return;
      case 'awaiting welcome':
        this.#onWelcome(bytes, state.noise, state.ephemeral);
        return;
      case 'awaiting confirm':
        this.#onConfirm(bytes, state.protection, state.peer);
        return;
      case 'established':
        if (bytes.length > state.maxFrameBytes) {
          this.#logger.debug(
            { remote: this.connection.remoteAddress, bytes: bytes.length, maxBytes: state.maxFrameBytes },
            'a frame past what this session may send; closing it',
          );
          this.close(CloseCode.TooLarge, 'frame too large');
          return;
        }
        if (this.#busy || this.#waiting.length > 0) this.#wait(bytes);
        else this.#onFrame(bytes, state.protection);
        return;
      case 'closed':
        return;
    }
  }

  /** Listener: the dialler's Hello. Nothing is sent back unless a key of the keyring opens it. */
  #onHello(bytes: Uint8Array): void {
    const message = unframe(HELLO, bytes);
    if (typeof message === 'string') {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'bad handshake message');
      return;
    }
    const base = initialState(PROLOGUE);
    const { keyring } = this.#options;
    let opened: {
      noise: SymmetricState;
      re: Buffer;
      payload: Buffer;
      credential: (typeof keyring.credentials)[number];
    };
    try {
      opened = this.#tryKeys(base, message);
    } catch {
      this.#fail('E_AUTH', CloseCode.AuthFailed, 'authentication failed');
      return;
    }
    const hello = decodeHello(opened.payload);
    if (typeof hello === 'string') {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'bad handshake payload');
      return;
    }
    const grant = keyring.grant(opened.credential, hello.role);
    if (grant === undefined) {
      this.#fail('E_AUTH', CloseCode.AuthFailed, 'authentication failed');
      return;
    }
    const protocol = Math.min(hello.maxProtocol, this.#protocols.max);
    if (protocol < Math.max(hello.minProtocol, this.#protocols.min)) {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'no common protocol version', this.#versions(hello));
      return;
    }
    const local = this.#options.local;
    if (hello.role === 'peer' && hello.cluster !== local.cluster) {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'cluster mismatch');
      return;
    }
    if (hello.node === local.node && !this.#options.ownEphemerals?.has(opened.re)) {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'another node uses this node name');
      return;
    }
    const welcome: WelcomePayload = {
      protocol,
      minProtocol: this.#protocols.min,
      maxProtocol: this.#protocols.max,
      grant,
      cluster: local.cluster,
      node: local.node,
      url: local.url,
    };
    let second: ReturnType<typeof writeSecond>;
    try {
      second = writeSecond(opened.noise, opened.re, generateEphemeral(), encodeWelcome(welcome));
    } catch (error) {
      // An ephemeral key that is not a usable point (one of low order): a bad Hello, refused as
      // any other. Thrown on, it closed with 'internal error' and logged an error each time.
      if (!(error instanceof NoiseError)) throw error;
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'bad handshake message');
      return;
    }
    const peer: PeerIdentity = {
      node: hello.node,
      url: hello.url,
      role: hello.role,
      grant,
      cluster: local.cluster,
      protocol,
    };
    this.#state = {
      name: 'awaiting confirm',
      protection: new FrameProtection(second.send, second.receive, this.#options.rekeyInterval),
      peer,
    };
    this.connection.send(frame(WELCOME, second.message));
  }

  /** Trial decryption: the first credential whose key opens the Hello. @throws NoiseError */
  #tryKeys(base: SymmetricState, message: Uint8Array) {
    for (const credential of this.#options.keyring.credentials) {
      const noise = base.fork();
      try {
        const { re, payload } = readFirst(noise, credential.psk, message);
        return { noise, re, payload, credential };
      } catch (error) {
        if (!(error instanceof NoiseError)) throw error;
      }
    }
    throw new NoiseError('no key opens the hello');
  }

  /** Dialler: the listener's Welcome. */
  #onWelcome(bytes: Uint8Array, noise: SymmetricState, ephemeral: EphemeralKey): void {
    this.#options.ownEphemerals?.delete(ephemeral.publicKey);
    const message = unframe(WELCOME, bytes);
    if (typeof message === 'string') {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'bad handshake message');
      return;
    }
    let second: ReturnType<typeof readSecond>;
    try {
      second = readSecond(noise, ephemeral, message);
    } catch {
      this.#fail('E_AUTH', CloseCode.AuthFailed, 'authentication failed');
      return;
    }
    const welcome = decodeWelcome(second.payload);
    if (typeof welcome === 'string') {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'bad handshake payload');
      return;
    }
    const local = this.#options.local;
    const role = local.role ?? 'peer';
    const expected = Math.min(welcome.maxProtocol, this.#protocols.max);
    if (welcome.protocol !== expected || expected < Math.max(welcome.minProtocol, this.#protocols.min)) {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'no common protocol version', this.#versions(welcome));
      return;
    }
    if ((role === 'peer') !== (welcome.grant === 'peer')) {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'the listener granted another role');
      return;
    }
    if (role === 'peer' && welcome.cluster !== local.cluster) {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'cluster mismatch');
      return;
    }
    if (welcome.node === local.node) {
      this.#fail('E_SELF', CloseCode.Self, 'dialled itself');
      return;
    }
    const sealed = new FrameProtection(second.send, second.receive, this.#options.rekeyInterval);
    this.connection.send(sealed.seal(this.#confirmation())); // Confirm: proves the session keys
    const protection = this.#framesAfter(sealed);
    this.connection.authenticated();
    this.#establish(
      {
        node: welcome.node,
        url: welcome.url,
        role,
        grant: welcome.grant,
        cluster: welcome.cluster,
        protocol: welcome.protocol,
      },
      protection,
    );
  }

  /** What this side's Confirm carries (CONFIRM_PROTECTED or CONFIRM_UNPROTECTED). */
  #confirmation(): Buffer {
    return this.#options.protectFrames === false ? CONFIRM_UNPROTECTED : CONFIRM_PROTECTED;
  }

  /** What protects the frames after the Confirm: its keys, or nothing with protectFrames: false. */
  #framesAfter(confirmed: FrameProtection): FrameProtection {
    return this.#options.protectFrames === false ? FrameProtection.none() : confirmed;
  }

  /** Listener: the dialler's first protected frame, empty. */
  #onConfirm(bytes: Uint8Array, protection: FrameProtection, peer: PeerIdentity): void {
    let plaintext: Buffer;
    try {
      if (bytes.length !== TAGLEN + this.#confirmation().length) throw new NoiseError('not a confirmation');
      plaintext = protection.open(bytes);
    } catch {
      this.#fail('E_AUTH', CloseCode.AuthFailed, 'authentication failed');
      return;
    }
    if (!plaintext.equals(this.#confirmation())) {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'bad handshake message');
      return;
    }
    this.connection.authenticated();
    this.#establish(peer, this.#framesAfter(protection));
  }

  #establish(peer: PeerIdentity, protection: FrameProtection): void {
    this.#cancelTimer?.();
    // Only a listener bounds what its client sends by grant: the transport's maxPayload bounds the rest.
    const readOnly = this.#options.side === 'listener' && peer.grant === 'read-only';
    const maxFrameBytes = readOnly ? READ_ONLY_MAX_FRAME_BYTES : Number.POSITIVE_INFINITY;
    this.#state = { name: 'established', protection, maxFrameBytes };
    this.#settle.resolve(peer);
  }

  #onFrame(bytes: Uint8Array, protection: FrameProtection): void {
    let message: SessionMessage;
    try {
      message = this.#codec.decode(protection.open(bytes));
    } catch (error) {
      const forged = error instanceof NoiseError;
      const remote = this.connection.remoteAddress;
      const warnNow = this.#options.warnNow?.(`bad message ${hostOf(remote)}`) ?? true;
      this.#logger[warnNow ? 'warn' : 'debug'](
        { remote, err: forged ? undefined : error },
        forged ? 'a frame failed authentication; closing the session' : 'a bad message; closing the session',
      );
      this.close(CloseCode.ProtocolError, forged ? 'frame failed authentication' : 'bad message');
      return;
    }
    const values = this.#codec.takeDeferred();
    if (this.#handler === undefined) this.#early.push({ message, values });
    else this.#handle(message, values);
  }

  /**
   * Hands a message to the handler; once it has handled it, what the message left undecoded and
   * no cache took is done with. A handler still at it (a promise) holds back the frames after it.
   */
  #handle(message: SessionMessage, values: FrameValues | undefined): void {
    let handling: Handling;
    try {
      handling = (this.#handler as (message: SessionMessage) => Handling)(message);
    } catch (error) {
      values?.settle();
      throw error;
    }
    if (!(handling instanceof Promise)) {
      values?.settle();
      return;
    }
    this.#busy = true;
    const handled = () => {
      values?.settle();
      this.#busy = false;
      this.#handleWaitingLater();
    };
    handling.then(handled, (error: unknown) => {
      // As a handler's throw (#guarded); never unhandled.
      this.#couldNotHandle(error);
      handled();
    });
  }

  /** A frame read while the handler is busy: kept, in order; reading stops while too much is. */
  #wait(bytes: Uint8Array): void {
    this.#waiting.push(bytes);
    this.#waitingBytes += bytes.length;
    if (
      !this.#pausedForWaiting &&
      (this.#waitingBytes > WAITING_MOST_BYTES || this.#waiting.length > WAITING_MOST_FRAMES)
    ) {
      this.#pausedForWaiting = true;
      this.connection.pauseReading();
    }
  }

  /**
   * Hands the handler what waited for it, in order: the messages that came before it was set,
   * then the frames read while it was busy, until it is busy again or nothing waits. Each is held
   * to the same rule as a frame handled as it arrives (#receive): a message whose handling throws
   * closes the session, never the process.
   */
  #handleWaiting(): void {
    let budget = WAITING_TURN_BYTES;
    while (!this.#busy && this.#handler !== undefined) {
      const state = this.#state;
      if (state.name !== 'established') break; // a message before closed the session
      const early = this.#early.shift();
      if (early !== undefined) {
        this.#guarded(() => this.#handle(early.message, early.values));
        continue;
      }
      if (budget <= 0) {
        this.#handleWaitingLater();
        break;
      }
      const bytes = this.#waiting.shift();
      if (bytes === undefined) break;
      this.#waitingBytes -= bytes.length;
      budget -= bytes.length;
      this.#guarded(() => this.#onFrame(bytes, state.protection));
    }
    if (
      this.#pausedForWaiting &&
      this.#waitingBytes <= WAITING_MOST_BYTES / 2 &&
      this.#waiting.length <= WAITING_MOST_FRAMES / 2
    ) {
      this.#pausedForWaiting = false;
      this.connection.resumeReading();
    }
  }

  /**
   * What waits is handled on a later turn of the event loop, never in the turn that finished the
   * handling before it (the last slice of a large frame): frames that waited behind a large one
   * would otherwise all be handled in one go (a peer's backlog of small batches held the event
   * loop 140 ms so; found by a review). Later frames keep waiting meanwhile.
   */
  #handleWaitingLater(): void {
    if (this.#busy || (this.#waiting.length === 0 && this.#early.length === 0)) return;
    this.#busy = true;
    void this.#scheduler.nextTurn().then(() => {
      this.#busy = false;
      this.#handleWaiting();
    });
  }

  get #logger(): Logger {
    return this.#options.logger ?? silentLogger;
  }

  /**
   * `detail`, when given, is this node's fuller account (the error and its log line); the other
   * side is told `reason` only.
   */
  #fail(code: HandshakeErrorCode, closeCode: number, reason: string, detail?: string): void {
    if (this.#state.name === 'closed') return;
    this.#logger.debug({ remote: this.connection.remoteAddress, reason: detail ?? reason }, 'handshake refused');
    this.#closed();
    this.#settle.reject(new HandshakeError(code, detail ?? reason));
    this.connection.close(closeCode, reason);
  }

  /** Which versions each side speaks, for an operator rolling a fleet (docs/protocol.md). */
  #versions(other: { readonly minProtocol: number; readonly maxProtocol: number }): string {
    const span = (min: number, max: number) => (min === max ? `${min}` : `${min} to ${max}`);
    return `no common protocol version: this node speaks ${span(this.#protocols.min, this.#protocols.max)}, the other ${span(other.minProtocol, other.maxProtocol)}`;
  }

  #closed(): void {
    this.#cancelTimer?.();
    // Nothing waiting is handled now: a closed session hands nothing on.
    for (const { values } of this.#early) values?.settle();
    this.#early = [];
    this.#waiting = [];
    this.#waitingBytes = 0;
    const state = this.#state;
    if (state.name === 'awaiting welcome') this.#options.ownEphemerals?.delete(state.ephemeral.publicKey);
    this.#state = { name: 'closed' };
  }
}
