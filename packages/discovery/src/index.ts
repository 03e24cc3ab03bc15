export type {
  AutomaticDiscoveryConfig,
  DiscoveryConfig,
  DnsDiscoveryConfig,
  LocalNode,
  ManualDiscoveryConfig,
  ResolvedDiscoveryConfig,
} from './discovery-config.js';
export { createPeerProvider, explicitPort, parsePeerUrl, resolveDiscoveryConfig } from './discovery-config.js';
export type { DnsPeerProviderOptions, Resolver } from './dns-provider.js';
export { DnsPeerProvider, systemResolver } from './dns-provider.js';
export type { ManualPeer } from './manual-provider.js';
export { ManualPeerProvider } from './manual-provider.js';
export type { MdnsPeerProviderOptions } from './mdns-provider.js';
export { MdnsPeerProvider, SERVICE_TYPE } from './mdns-provider.js';
export type { DiscoveredPeer, DiscoveryMode, PeerEvent, PeerProvider } from './peer-provider.js';
export { cachesOf, sameCaches } from './peer-provider.js';
