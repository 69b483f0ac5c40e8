import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureDevCertificate } from '../../samples/multi-protocol/dev-certificate';
import { runCli } from '../lib/cli';
import { httpThroughputScenario } from './http-throughput';

/** Where the bench keeps its self-signed certificate (gitignored `.cache/`). */
const BENCH_CERT_DIR = join(__dirname, '../../../.cache/bench-tls');

/** HTTP/2 `GET /` -> `hello` over TLS: 10 sessions x 10 concurrent streams (h2load), `Http2Server` vs `http2.createSecureServer`. */
export const http2KeepAlive = httpThroughputScenario({
  name: 'http2-keepalive',
  title: 'HTTP/2 hello, 10 sessions x 10 streams (h2load)',
  server: 'servers/http2-target',
  client: 'clients/h2load-client',
  scheme: 'https',
  connections: 10,
  streams: 10,
  target: 0.97,
  cpuTarget: 1.03,
  unavailable: () => (spawnSync('h2load', ['--version']).status === 0 ? undefined : 'h2load (Debian nghttp2-client) is not installed'),
  serverArgs: async () => {
    const { cert, key } = await ensureDevCertificate(BENCH_CERT_DIR);
    return { tls: { cert, key } };
  },
});

if (require.main === module) void runCli([http2KeepAlive]);
