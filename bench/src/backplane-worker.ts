/**
 * One process of the backplane benchmark (backplane.ts): hosts several ClusterNodes and answers
 * the coordinator's JSON lines on stdin, one JSON line each on stdout.
 *
 *   {"op":"start","config":{...}}          starts a node; answers {"url"}
 *   {"op":"watch","count":N}               counts the puts each node applies from others; answers,
 *                                          once every node of this process holds N, the time each
 *                                          got there (epoch ms) and every lag seen (ms)
 *   {"op":"write","count":N,"rate":R}      the first node puts N entries at R/s (values carry the
 *                                          put time); answers this process's CPU (µs) from the first put
 *   {"op":"cpu"}                           this process's CPU (µs) since the write began
 *   {"op":"stop"}                          stops every node, then exits
 */
import { createInterface } from 'node:readline';
import { type ClusterConfig, ClusterNode } from '@meshcache/replication';

const CACHE = 'bench';
const nodes: ClusterNode[] = [];
let writeStart: NodeJS.CpuUsage | undefined;
const micros = (usage: NodeJS.CpuUsage) => usage.user + usage.system;

async function handle(request: { op: string; [field: string]: unknown }): Promise<unknown> {
  switch (request.op) {
    case 'start': {
      const node = await ClusterNode.start(request['config'] as ClusterConfig);
      await node.ready();
      nodes.push(node);
      return { url: node.url };
    }
    case 'watch': {
      const count = request['count'] as number;
      const lags: number[] = [];
      const done = await Promise.all(
        nodes.map(
          (node) =>
            new Promise<number>((resolve) => {
              const cache = node.manager.getCache(CACHE);
              if (cache === undefined) throw new Error('no cache');
              let seen = 0;
              const listener = (event: { value?: unknown }) => {
                const at = Date.now();
                lags.push(at - ((event.value as { t: number }).t ?? at));
                if (++seen === count) {
                  cache.off('put', listener);
                  resolve(at);
                }
              };
              cache.on('put', listener, { origin: 'remote' });
            }),
        ),
      );
      return { done, lags };
    }
    case 'write': {
      const count = request['count'] as number;
      const rate = request['rate'] as number;
      const cache = nodes[0]?.manager.getCache(CACHE);
      if (cache === undefined) throw new Error('no writer');
      writeStart = process.cpuUsage();
      const started = Date.now();
      const body = 'x'.repeat(200);
      for (let i = 0; i < count; ) {
        const due = Math.min(count, Math.floor(((Date.now() - started) / 1000) * rate) + 1);
        for (; i < due; i++) cache.put(`key-${i}`, { t: Date.now(), body });
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      return { cpuMicros: micros(process.cpuUsage(writeStart)) };
    }
    case 'cpu':
      return { cpuMicros: writeStart === undefined ? 0 : micros(process.cpuUsage(writeStart)) };
    case 'stop':
      for (const node of nodes.splice(0)) await node.stop();
      return { stopped: true };
    default:
      throw new Error(`unknown op ${request.op}`);
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const request = JSON.parse(line) as { op: string; id: number };
  handle(request).then(
    (answer) => {
      process.stdout.write(`${JSON.stringify({ id: request.id, ...(answer as object) })}\n`);
      if (request.op === 'stop') process.exit(0);
    },
    (error: Error) => process.stdout.write(`${JSON.stringify({ id: request.id, error: error.message })}\n`),
  );
});
