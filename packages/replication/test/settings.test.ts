import { ConfigError } from '@meshcache/core';
import { describe, expect, it } from 'vitest';
import {
  BOOTSTRAP_DEFAULTS,
  REPLICATION_DEFAULTS,
  resolveBootstrapConfig,
  resolveClusterConfig,
  resolveReplicationConfig,
} from '../src/index.js';

describe('replication settings', () => {
  it('default to Ehcache’s, with replicateExpiries on, single flight off and anti-entropy every 30 s', () => {
    expect(resolveReplicationConfig('c', undefined)).toBe(REPLICATION_DEFAULTS);
    expect(resolveReplicationConfig('c', {})).toEqual({
      replicatePuts: true,
      replicatePutsViaCopy: true,
      replicateUpdates: true,
      replicateUpdatesViaCopy: true,
      replicateRemovals: true,
      replicateExpiries: true,
      replicateAsynchronously: true,
      asynchronousReplicationIntervalMillis: 1000,
      asynchronousReplicationMaximumBatchSize: 1000,
      clusterSingleFlight: false,
      singleFlightLeaseMillis: 10_000,
      singleFlightClaimMillis: 1000,
      repairIntervalMillis: 30_000,
    });
    expect(resolveBootstrapConfig('c', {})).toEqual(BOOTSTRAP_DEFAULTS);
  });

  it('keep what is given', () => {
    const resolved = resolveReplicationConfig('c', {
      replicateUpdatesViaCopy: false,
      asynchronousReplicationIntervalMillis: 10,
    });
    expect(resolved).toMatchObject({
      replicateUpdatesViaCopy: false,
      asynchronousReplicationIntervalMillis: 10,
      replicatePuts: true,
    });
  });

  it.each([
    [{ asynchronousReplicationIntervalMillis: 5 }, 'replication.asynchronousReplicationIntervalMillis', /from 10 to/],
    [{ replicatePuts: 'yes' }, 'replication.replicatePuts', /true or false/],
    [{ replicatePut: true }, 'replication.replicatePut', /is not a replication option/],
    [
      { asynchronousReplicationMaximumBatchSize: 0 },
      'replication.asynchronousReplicationMaximumBatchSize',
      /from 1 to/,
    ],
  ])('refuse %j naming the cache and the field', (raw, field, message) => {
    let error: unknown;
    try {
      resolveReplicationConfig('Response Cache', raw);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'E_CONFIG', cacheName: 'Response Cache', field });
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain('cache "Response Cache"');
  });

  it('refuse a bootstrap chunk size out of Ehcache’s range instead of silently using the default', () => {
    expect(() => resolveBootstrapConfig('c', { maximumChunkSizeBytes: 100 })).toThrow(
      /field "bootstrap.maximumChunkSizeBytes" must be a whole number from 5000 to 100000000, got 100/,
    );
  });
  it('show the value given in their errors: NaN and Infinity as themselves (not null), a bigint without throwing', () => {
    const refused = (raw: unknown) => () => resolveReplicationConfig('Response Cache', raw);
    // Number(process.env.X) of an unset variable is NaN: "got null" named a value no one gave.
    expect(refused({ asynchronousReplicationIntervalMillis: Number.NaN })).toThrow(
      'cache "Response Cache": field "replication.asynchronousReplicationIntervalMillis" must be a whole number from 10 to 3600000, got NaN',
    );
    expect(refused({ asynchronousReplicationMaximumBatchSize: Number.POSITIVE_INFINITY })).toThrow(/, got Infinity$/);
    expect(refused({ replicateAsynchronously: Number.NaN })).toThrow(
      'field "replication.replicateAsynchronously" must be true or false, got NaN',
    );
    // A bigint made JSON.stringify throw a TypeError that named no field.
    expect(refused({ asynchronousReplicationIntervalMillis: 10n })).toThrow(ConfigError);
    expect(refused({ asynchronousReplicationIntervalMillis: 10n })).toThrow(/IntervalMillis" must be .*, got 10n$/);
    expect(refused(null)).toThrow('cache "Response Cache": field "replication" must be an object, got null');
    expect(() => resolveBootstrapConfig('c', { maximumChunkSizeBytes: 5_000_000n })).toThrow(/, got 5000000n$/);
    expect(() => resolveBootstrapConfig('c', true)).toThrow('field "bootstrap" must be an object, got true');
    // The node's own fields show values the same way (shownValue).
    expect(() => resolveClusterConfig({ name: 'a', cluster: 'g', peerListener: { port: 40001n } }, {})).toThrow(
      'option "peerListener.port" must be a port number from 0 to 65535 (0 = pick one), got 40001n',
    );
  });
});
