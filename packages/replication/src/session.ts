/**
 * A session is one authenticated connection between two nodes: the handshake, then decoded,
 * validated messages handed to whoever drives the link.
 *
 * Handshake (both sides at once, so it works whichever side dialled):
 *   1. each side sends Hello: protocol version, cluster name, node name, listener URL, a fresh
 *      32-byte nonce;
 *   2. on the other's Hello, each side checks protocol and cluster, then sends Proof:
 *      HMAC-SHA256(secret, "meshcache/1" | other's nonce | own nonce | own node | cluster);
 *   3. each side verifies the other's Proof in constant time. Both nonces are fresh, so a proof
 *      cannot be replayed, and each proof names its sender, so it cannot be reflected.
 * A node without a secret uses the empty key: two such nodes accept each other (loopback
 * development), and a node with a secret refuses them.
 *
 * An admin client (the CLI) says so in its Hello. It need not know the cluster's name: it takes
 * the node's, and both proofs are computed over the node's cluster, so the secret alone is what
 * admits it. A node never treats an admin session as a peer.
 *
 * Failures close the connection with a code and a reason the other side can log: 4003 for a
 * wrong secret, 4002 for a protocol or cluster mismatch or any frame that does not decode. A
 * frame that arrives before the handshake is done and is not part of it is a protocol error.
 * Nothing from the peer reaches a cache before both proofs check out.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { MeshcacheError } from '@meshcache/core';
import { WireCodec } from './protocol/codec.js';
import {
  type HandshakeMessage,
  type HelloMessage,
  type Message,
  MessageType,
  PROTOCOL_VERSION,
  type SessionRole,
} from './protocol/messages.js';
import { CloseCode, type Connection } from './transport/transport.js';

export interface LocalIdentity {
  readonly cluster: string;
  readonly node: string;
  /** This node's listener URL ('' for a client such as the CLI). */
  readonly url: string;
  /** The cluster secret; undefined for an insecure loopback cluster. */
  readonly secret: string | undefined;
  /** 'admin' for a client that only sends admin requests. @default 'peer' */
  readonly role?: SessionRole;
}

export interface PeerIdentity {
  readonly node: string;
  readonly url: string;
  readonly role: SessionRole;
  /** The cluster the other side belongs to (for an admin client: the node's). */
  readonly cluster: string;
}

/** What the link receives once the session is established: anything but the handshake. */
export type SessionMessage = Exclude<Message, HandshakeMessage>;

export class HandshakeError extends MeshcacheError {
  constructor(code: 'E_AUTH' | 'E_PROTOCOL' | 'E_TIMEOUT', message: string) {
    super(code, message);
    this.name = 'HandshakeError';
  }
}

function proof(
  secret: string | undefined,
  theirNonce: Uint8Array,
  ourNonce: Uint8Array,
  node: string,
  cluster: string,
) {
  return createHmac('sha256', secret ?? '')
    .update('meshcache/1')
    .update(theirNonce)
    .update(ourNonce)
    .update(`\u0000${node}\u0000${cluster}`)
    .digest();
}

export class Session {
  readonly connection: Connection;
  readonly #codec = new WireCodec();
  readonly #local: LocalIdentity;
  readonly #nonce = randomBytes(32);
  #peerHello: HelloMessage | undefined;
  /** The cluster both proofs name: this node's, or for an admin client the node's. */
  #cluster = '';
  #peerProven = false;
  #handler: ((message: SessionMessage) => void) | undefined;
  /** Messages that arrived after the handshake but before a handler was set; none are lost. */
  #early: SessionMessage[] = [];
  readonly #established: Promise<PeerIdentity>;
  #settle!: { resolve: (peer: PeerIdentity) => void; reject: (error: HandshakeError) => void };

  /** Starts the handshake at once; `established` settles when it ends either way. */
  constructor(connection: Connection, local: LocalIdentity, timeoutMillis: number) {
    this.connection = connection;
    this.#local = local;
    this.#established = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.#established.catch(() => {}); // observed through `established`; never unhandled
    const timer = setTimeout(
      () => this.#fail('E_TIMEOUT', CloseCode.ProtocolError, `handshake took longer than ${timeoutMillis} ms`),
      timeoutMillis,
    );
    timer.unref();
    void this.#established.finally(() => clearTimeout(timer)).catch(() => {});
    // Hello goes out before any frame is read: a frame read now may need an answer (a proof),
    // and the peer must see our hello first.
    connection.send(
      this.#codec.encode({
        type: MessageType.Hello,
        protocol: PROTOCOL_VERSION,
        cluster: local.cluster,
        node: local.node,
        url: local.url,
        nonce: this.#nonce,
        ...(local.role === 'admin' ? { role: 'admin' as const } : {}),
      }),
    );
    connection.onFrame((frame) => this.#receive(frame));
    connection.onClose((code, reason) =>
      this.#settle.reject(
        new HandshakeError(
          code === CloseCode.AuthFailed ? 'E_AUTH' : 'E_PROTOCOL',
          `peer closed the connection (${code} ${reason})`,
        ),
      ),
    );
  }

  get established(): Promise<PeerIdentity> {
    return this.#established;
  }

  /** Who receives the peer's messages once the handshake is done. */
  onMessage(handler: (message: SessionMessage) => void): void {
    this.#handler = handler;
    const early = this.#early;
    this.#early = [];
    for (const message of early) handler(message);
  }

  send(message: SessionMessage): void {
    this.connection.send(this.#codec.encode(message));
  }

  close(code: number = CloseCode.Normal, reason = ''): void {
    this.connection.close(code, reason);
  }

  #receive(frame: Uint8Array): void {
    let message: ReturnType<WireCodec['decode']>;
    try {
      message = this.#codec.decode(frame);
    } catch (error) {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, (error as Error).message);
      return;
    }
    if (message.type === MessageType.Hello) this.#onHello(message);
    else if (message.type === MessageType.Proof) this.#onProof(message.mac);
    else if (!this.#peerProven) {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'a change arrived before the handshake was done');
    } else if (this.#handler === undefined) this.#early.push(message);
    else this.#handler(message);
  }

  #onHello(hello: HelloMessage): void {
    if (this.#peerHello !== undefined) {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'a second hello on one connection');
      return;
    }
    if (hello.protocol !== PROTOCOL_VERSION) {
      this.#fail(
        'E_PROTOCOL',
        CloseCode.ProtocolError,
        `protocol ${hello.protocol} is not spoken here (${PROTOCOL_VERSION} is)`,
      );
      return;
    }
    const admin = this.#local.role === 'admin' || hello.role === 'admin';
    if (admin && this.#local.role === 'admin' && hello.role === 'admin') {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'two admin clients cannot talk to each other');
      return;
    }
    // The node's cluster is the one both proofs name; an admin client adopts it.
    this.#cluster = this.#local.role === 'admin' ? hello.cluster : this.#local.cluster;
    if (!admin && hello.cluster !== this.#local.cluster) {
      this.#fail(
        'E_PROTOCOL',
        CloseCode.ProtocolError,
        `cluster "${hello.cluster}" is not this node's cluster "${this.#local.cluster}"`,
      );
      return;
    }
    this.#peerHello = hello;
    const mac = proof(this.#local.secret, hello.nonce, this.#nonce, this.#local.node, this.#cluster);
    this.connection.send(this.#codec.encode({ type: MessageType.Proof, mac }));
  }

  #onProof(mac: Uint8Array): void {
    const hello = this.#peerHello;
    if (hello === undefined || this.#peerProven) {
      this.#fail('E_PROTOCOL', CloseCode.ProtocolError, 'a proof out of turn');
      return;
    }
    const expected = proof(this.#local.secret, this.#nonce, hello.nonce, hello.node, this.#cluster);
    if (!timingSafeEqual(expected, mac)) {
      this.#fail('E_AUTH', CloseCode.AuthFailed, `node "${hello.node}" did not prove the cluster secret`);
      return;
    }
    this.#peerProven = true;
    this.#settle.resolve({ node: hello.node, url: hello.url, role: hello.role ?? 'peer', cluster: this.#cluster });
  }

  #fail(code: 'E_AUTH' | 'E_PROTOCOL' | 'E_TIMEOUT', closeCode: number, reason: string): void {
    this.#settle.reject(new HandshakeError(code, reason));
    this.connection.close(closeCode, reason);
  }
}
