/**
 * A node's credentials: the secrets it accepts and the one it dials with, each turned into the
 * 32-byte pre-shared key of the handshake, and what each one admits.
 *
 * Kinds of credential:
 * - the cluster secret (`secret`, the one this node dials with) and `acceptedSecrets` (older
 *   secrets still accepted during a rotation): they admit peers, and admin clients too unless an
 *   `adminSecret` is configured;
 * - `adminSecret`: admin clients, every operation;
 * - `readOnlySecret`: admin clients, reading only (peers, stats, get).
 * The listener tries each credential's key against a dialler's first message (trial decryption:
 * a handful of AEAD attempts on a few hundred bytes); the one that decrypts says what the dialler
 * may do.
 *
 * Keys are stretched: scrypt (N = 2^14, r = 8, p = 1, about 16 MiB and tens of milliseconds) turns
 * a secret into its key once per process, so each guess of an offline attack on a recorded
 * handshake costs as much. Stretching does not make a weak secret strong: off loopback a secret
 * must be at least 32 bytes (the configuration checks). A node without any secret uses the key
 * of the empty secret: two such nodes accept each other, on loopback only.
 */
import { scrypt } from 'node:crypto';

/** What a dialler asks to be. */
export type SessionRole = 'peer' | 'admin';
/** What a listener grants: a peer, or an admin client with every operation or reading only. */
export type SessionGrant = 'peer' | 'admin' | 'read-only';

export type CredentialKind = 'cluster' | 'admin' | 'read-only';

export interface Credential {
  readonly kind: CredentialKind;
  readonly psk: Buffer;
}

export interface KeyringSecrets {
  /** The cluster secret this node dials with (and accepts); undefined: the empty secret. */
  readonly secret: string | undefined;
  /** Older cluster secrets still accepted (a rotation in progress). */
  readonly acceptedSecrets?: readonly string[];
  readonly adminSecret?: string | undefined;
  readonly readOnlySecret?: string | undefined;
}

const SALT = 'meshcache/psk/1';
const SCRYPT = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
/** Derived keys by secret, so that many nodes (or admin calls) in one process stretch each secret once. */
const derived = new Map<string, Promise<Buffer>>();
const MAX_REMEMBERED = 32;

/** The handshake key of a secret (scrypt-stretched). */
export function derivePsk(secret: string | undefined): Promise<Buffer> {
  const text = secret ?? '';
  let key = derived.get(text);
  if (key === undefined) {
    key = new Promise<Buffer>((resolve, reject) =>
      scrypt(text, SALT, 32, SCRYPT, (error, out) => (error === null ? resolve(out) : reject(error))),
    );
    if (derived.size >= MAX_REMEMBERED) derived.delete(derived.keys().next().value as string);
    derived.set(text, key);
  }
  return key;
}

export class Keyring {
  /** The key this node dials with. */
  readonly dialKey: Buffer;
  /** Every key a listener accepts, the dialling key first. */
  readonly credentials: readonly Credential[];
  /** An admin secret is configured: the cluster secret admits peers only. */
  readonly hasAdminSecret: boolean;

  private constructor(dialKey: Buffer, credentials: Credential[], hasAdminSecret: boolean) {
    this.dialKey = dialKey;
    this.credentials = credentials;
    this.hasAdminSecret = hasAdminSecret;
  }

  static async from(secrets: KeyringSecrets): Promise<Keyring> {
    const dialKey = await derivePsk(secrets.secret);
    const credentials: Credential[] = [{ kind: 'cluster', psk: dialKey }];
    for (const older of secrets.acceptedSecrets ?? []) {
      credentials.push({ kind: 'cluster', psk: await derivePsk(older) });
    }
    if (secrets.adminSecret !== undefined) {
      credentials.push({ kind: 'admin', psk: await derivePsk(secrets.adminSecret) });
    }
    if (secrets.readOnlySecret !== undefined) {
      credentials.push({ kind: 'read-only', psk: await derivePsk(secrets.readOnlySecret) });
    }
    return new Keyring(dialKey, credentials, secrets.adminSecret !== undefined);
  }

  /** What a credential grants a dialler asking for `role`; undefined when it grants nothing. */
  grant(credential: Credential, role: SessionRole): SessionGrant | undefined {
    if (role === 'peer') return credential.kind === 'cluster' ? 'peer' : undefined;
    if (credential.kind === 'admin') return 'admin';
    if (credential.kind === 'read-only') return 'read-only';
    return this.hasAdminSecret ? undefined : 'admin';
  }
}
