/**
 * Places for connections, at most `maxConnections` in all and `maxPerAddress` from one address:
 * the WebSocket listener's connections waiting for authentication, and the operator endpoint's
 * connections. A newcomer from an address at its share is refused. When every place is taken,
 * the oldest connection of the address holding the most is dropped to make room, provided that
 * address holds more than the newcomer's (else the newcomer is refused): a flood from a few
 * addresses cannot keep out a peer, the CLI or a probe, whose requests take milliseconds while a
 * flood's connections wait for their timeout. An "address" is whatever the caller counts by (the
 * operator endpoint counts an IPv6 /64 as one).
 */
import type { Socket } from 'node:net';

export interface ConnectionPlacesLimits {
  readonly maxConnections: number;
  readonly maxPerAddress: number;
}

interface Place {
  readonly address: string;
  readonly socket: Socket;
}

export class ConnectionPlaces {
  #total = 0;
  /** Per address, its connections, oldest first (a Set keeps insertion order). */
  readonly #byAddress = new Map<string, Set<Place>>();

  constructor(readonly limits: ConnectionPlacesLimits) {}

  /**
   * Takes a place for a new connection from `address`, making room if all are taken; returns how
   * to give it back (idempotent), or undefined when there is none.
   */
  admit(address: string, socket: Socket): (() => void) | undefined {
    const own = this.#byAddress.get(address)?.size ?? 0;
    if (own >= this.limits.maxPerAddress) return undefined;
    if (this.#total >= this.limits.maxConnections && !this.#evictFor(own)) return undefined;
    const place: Place = { address, socket };
    let places = this.#byAddress.get(address);
    if (places === undefined) {
      places = new Set();
      this.#byAddress.set(address, places);
    }
    places.add(place);
    this.#total++;
    return () => this.#release(place);
  }

  #release(place: Place): void {
    const places = this.#byAddress.get(place.address);
    if (places === undefined || !places.delete(place)) return;
    this.#total--;
    if (places.size === 0) this.#byAddress.delete(place.address);
  }

  /** Drops the oldest connection of the address holding the most, if it holds more than `own`. */
  #evictFor(own: number): boolean {
    let heaviest: Set<Place> | undefined;
    for (const places of this.#byAddress.values()) {
      if (heaviest === undefined || places.size > heaviest.size) heaviest = places;
    }
    if (heaviest === undefined || heaviest.size <= own) return false;
    const oldest = heaviest.values().next().value as Place;
    this.#release(oldest);
    oldest.socket.destroy();
    return true;
  }
}
