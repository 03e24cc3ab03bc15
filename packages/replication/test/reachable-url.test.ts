import { describe, expect, it } from 'vitest';
import { namesWildcard, reachableUrl } from '../src/reachable-url.js';

describe('the URL shown for a peer', () => {
  it('is the advertised one, unless it names a wildcard host: then where the peer came from (found by a review)', () => {
    expect(reachableUrl('ws://10.0.0.2:7000', '10.0.0.9:51234')).toBe('ws://10.0.0.2:7000');
    expect(reachableUrl('ws://0.0.0.0:7000', '10.0.0.9:51234')).toBe('ws://10.0.0.9:7000');
    expect(reachableUrl('wss://[::]:7000', 'fd00::9:51234')).toBe('wss://[fd00::9]:7000');
    expect(reachableUrl('ws://[::]:7000', '::ffff:10.0.0.9:51234')).toBe('ws://10.0.0.9:7000');
    // A transport that gives no IP address (the memory network's names) leaves it as advertised.
    expect(reachableUrl('ws://0.0.0.0:7000', 'memory-client-3')).toBe('ws://0.0.0.0:7000');
  });

  it('says which URLs name a wildcard host', () => {
    expect(namesWildcard('ws://0.0.0.0:7000')).toBe(true);
    expect(namesWildcard('wss://[::]:7000')).toBe(true);
    expect(namesWildcard('ws://127.0.0.1:7000')).toBe(false);
    expect(namesWildcard('not a url')).toBe(false);
  });
});
