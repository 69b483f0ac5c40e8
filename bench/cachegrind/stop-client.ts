/**
 * Opens argv[3] keep-alive connections to 127.0.0.1:argv[2], one `GET /` each, tells its parent
 * `open` once every answer is in, and then holds them idle until the server closes them (for
 * `stop-count.sh`).
 */
import * as net from 'node:net';

const port = Number(process.argv[2]);
const count = Number(process.argv[3]);

function open(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let head = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      if (head.includes('\r\n\r\n')) return;
      head += chunk;
      if (head.includes('\r\n\r\n')) resolve();
    });
    socket.on('error', reject);
    socket.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
  });
}

async function main(): Promise<void> {
  // In batches: a burst bigger than the listen backlog would stall on SYN retries.
  for (let i = 0; i < count; i += 100) await Promise.all(Array.from({ length: Math.min(100, count - i) }, open));
  process.send?.({ type: 'open' });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
