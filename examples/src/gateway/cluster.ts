/**
 * `npx --yes pnpm@10.34.8 run example:gateway`: the example gateway as three instances
 * with meshcache replication, a fake auth server (800 ms a token) and a fake backend, on
 * 127.0.0.1, until Ctrl-C. Try it with curl (printed below).
 */
import { launchGatewayCluster } from './launch.js';

const cluster = await launchGatewayCluster();
console.log(`auth server ${cluster.authUrl} (GET /calls), backend ${cluster.backendUrl} (GET /calls)`);
for (const gateway of cluster.gateways) console.log(`${gateway.name}: ${gateway.url}  (peers on ${gateway.peerUrl})`);
const [first, second] = cluster.gateways;
console.log(`
Try:
  curl -i -H 'x-tenant: acme' ${first?.url}/orders/42     # MISS: one auth call, cached everywhere
  curl -i -H 'x-tenant: acme' ${second?.url}/orders/42    # HIT on another instance
  curl ${cluster.authUrl}/calls
  curl -i -H 'accept-language: fr' ${second?.url}/greeting  # one entry per language (the backend's Vary)
  curl -i -H 'cookie: session=alice' ${first?.url}/profile   # one entry per cookie; /welcome sets one: never cached
  curl -X DELETE ${first?.url}/_tags/order-42               # purge what the backend tagged order-42, everywhere
  curl -X DELETE ${first?.url}/_tokens/acme                 # revoke acme's token on every instance
  meshcache peers --node ${first?.peerUrl} --secret ${cluster.secret}
Ctrl-C stops everything.`);
await new Promise((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
await cluster.stop();
