/**
 * Sessions for tests: a dialler or listener end over any connection, with an identity and the
 * secrets it holds written as plain fields.
 */
import type { Logger } from '@meshcache/core';
import { Keyring, type KeyringSecrets } from '../src/security/keyring.js';
import { type OwnEphemerals, Session, type SessionOptions } from '../src/session.js';
import type { Connection } from '../src/transport/transport.js';

export interface TestIdentity extends Partial<KeyringSecrets> {
  readonly node: string;
  readonly cluster?: string;
  readonly url?: string;
  readonly role?: 'peer' | 'admin';
  readonly protocols?: { min: number; max: number };
  readonly ownEphemerals?: OwnEphemerals;
  readonly rekeyInterval?: number;
  readonly protectFrames?: boolean;
  readonly logger?: Logger;
}

export const TEST_SECRET = 'a test secret of thirty-two bytes or more';

/** A session end; `secret` defaults to TEST_SECRET (pass `secret: undefined` for none). */
export async function sessionOf(
  connection: Connection,
  side: 'dialler' | 'listener',
  identity: TestIdentity,
  timeoutMillis = 1000,
): Promise<Session> {
  const secrets: KeyringSecrets = {
    secret: 'secret' in identity ? identity.secret : TEST_SECRET,
    ...(identity.acceptedSecrets === undefined ? {} : { acceptedSecrets: identity.acceptedSecrets }),
    ...(identity.adminSecret === undefined ? {} : { adminSecret: identity.adminSecret }),
    ...(identity.readOnlySecret === undefined ? {} : { readOnlySecret: identity.readOnlySecret }),
  };
  const options: SessionOptions = {
    side,
    local: {
      cluster: identity.cluster ?? 'gateways',
      node: identity.node,
      url: identity.url ?? `ws://127.0.0.1/${identity.node}`,
      ...(identity.role === undefined ? {} : { role: identity.role }),
    },
    keyring: await Keyring.from(secrets),
    timeoutMillis,
    ...(identity.protocols === undefined ? {} : { protocols: identity.protocols }),
    ...(identity.ownEphemerals === undefined ? {} : { ownEphemerals: identity.ownEphemerals }),
    ...(identity.rekeyInterval === undefined ? {} : { rekeyInterval: identity.rekeyInterval }),
    ...(identity.protectFrames === undefined ? {} : { protectFrames: identity.protectFrames }),
    ...(identity.logger === undefined ? {} : { logger: identity.logger }),
  };
  return new Session(connection, options);
}
