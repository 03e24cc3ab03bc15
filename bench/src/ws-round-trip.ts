/**
 * The floor under replication lag on this machine: a bare ws round trip between two processes
 * on 127.0.0.1, 20 KB each way (a 10 ms batch at 10,000 puts/s), 10 ms apart so the receiver
 * sleeps between messages as a replication peer does. Prints p50 and p99 of 400 round trips.
 *
 * Run: npx tsc -p bench && node bench/dist/ws-round-trip.js
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';

const ROUND_TRIPS = 400;

if (process.argv[2] === 'echo') {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  server.on('listening', () => console.log((server.address() as { port: number }).port));
  server.on('connection', (socket) => socket.on('message', (message) => socket.send(message as Buffer)));
} else {
  const echo = spawn(process.execPath, [fileURLToPath(import.meta.url), 'echo'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) =>
    echo.stdout.once('data', (data) => resolve(Number(String(data)))),
  );
  const socket = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  await new Promise((resolve) => socket.once('open', resolve));
  const payload = Buffer.alloc(20_000);
  const trips: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const start = performance.now();
    socket.send(payload);
    await new Promise((resolve) => socket.once('message', resolve));
    trips.push(performance.now() - start);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  trips.sort((a, b) => a - b);
  const at = (q: number) => (trips[Math.floor(q * trips.length)] ?? Number.NaN).toFixed(3);
  console.log(
    `ws round trip, 20 KB each way, 10 ms apart, ${ROUND_TRIPS} trips: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`,
  );
  socket.close();
  echo.kill();
}
