import { ConfigError } from '@meshcache/core';
import { describe, expect, it } from 'vitest';
import {
  BOOTSTRAP_DEFAULTS,
  REPLICATION_DEFAULTS,
  resolveBootstrapConfig,
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
});
