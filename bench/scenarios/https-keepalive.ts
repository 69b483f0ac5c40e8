import { join } from 'node:path';
import { ensureDevCertificate } from '../../samples/multi-protocol/dev-certificate';
import { runCli } from '../lib/cli';
import { httpThroughputScenario } from './http-throughput';

/** Where the bench keeps its self-signed certificate (gitignored `.cache/`). */
const BENCH_CERT_DIR = join(__dirname, '../../../.cache/bench-tls');

/** HTTPS keep-alive `GET /` -> `hello`, 50 connections (TLS handshakes in the warm-up only). */
export const httpsKeepAlive = httpThroughputScenario({
  name: 'https-keepalive',
  title: 'HTTPS keep-alive hello, 50 connections',
  server: 'servers/http-target',
  scheme: 'https',
  connections: 50,
  target: 0.98,
  serverArgs: async () => {
    const { cert, key } = await ensureDevCertificate(BENCH_CERT_DIR);
    return { tls: { cert, key } };
  },
});

if (require.main === module) void runCli([httpsKeepAlive]);
