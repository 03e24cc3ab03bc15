/**
 * bonjour-service is an optional peer dependency, imported only when an mDNS provider starts.
 * Nothing here starts mDNS: only the import and its failure are exercised (the package check of
 * scripts/check-packages.mjs shows, in a real install, that it is not loaded otherwise).
 */
import { MeshcacheError } from '@meshcache/core';
import { describe, expect, it } from 'vitest';
import { loadBonjour } from '../src/mdns-provider.js';

describe('loading bonjour-service on demand', () => {
  it('loads it when it is installed', async () => {
    const module = await loadBonjour();
    expect(typeof module.Bonjour).toBe('function');
  });

  it('says what to install when it is missing', async () => {
    const error = await loadBonjour('bonjour-service-not-installed').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MeshcacheError);
    expect(error).toMatchObject({
      code: 'E_MISSING_DEPENDENCY',
      message:
        'peerDiscovery.mode "automatic" (mDNS) needs the package bonjour-service-not-installed, which is not installed: npm install bonjour-service-not-installed',
    });
  });
});
