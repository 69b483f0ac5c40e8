/**
 * The bare counterpart of the multi-protocol sample's HTTP server: `node:http` alone, with the
 * sample's own demo routes (`new URL`, the same `writeHead` headers, `hello`) and the HTTP
 * timeouts of its shipped config. Started as a plain process (no IPC, like the sample), it
 * prints `listening on <host>:<port>` once it listens. Port: argv[2], default 0 (a free one).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleDemoRequest } from '../../samples/multi-protocol/demo-routes';
import { benchHandler } from './handlers';

const config = { keepAliveTimeout: 5000, headersTimeout: 10_000, requestTimeout: 70_000 };
// argv[3] `bench-handler`: the bench's own handler instead (for the variants of bench/servers/sample-variant.ts).
const server = http.createServer(config, process.argv[3] === 'bench-handler' ? benchHandler : handleDemoRequest);
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const { address, port } = server.address() as AddressInfo;
  console.log(`http   bare node:http listening on ${address}:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => server.close(() => process.exit(0)));
