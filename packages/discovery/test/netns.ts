/**
 * The shell command that runs `command` inside the private network namespace `unshare --net`
 * made: loopback up, multicast on, and a route for 224.0.0.0/4, so mDNS works there and nowhere
 * else. Used by every test that starts mDNS (here and in the repository's test/).
 */
export function inNamespace(command: string): string {
  return `ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec ${command}`;
}
