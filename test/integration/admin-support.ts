import 'reflect-metadata';
import * as http from 'node:http';
import { HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool, type Application } from '../../src';

/** An HTTP server for admin and reload tests: `GET /` -> ok, `GET /fail` throws (500). */
@UsePool(HttpConnectionPool)
export class AdminTestServer extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.url === '/fail') throw new Error('handler failed on purpose');
    res.end('ok');
  }
}

/** A response read in full. */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

/** One GET, read to the end. */
export function get(port: number, path: string, options: { agent?: http.Agent; headers?: http.OutgoingHttpHeaders; method?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', agent: options.agent ?? false, headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The admin port of a started app. */
export function adminPort(app: Application): number {
  const addr = app.adminAddress();
  if (!addr) throw new Error('admin server is not running');
  return addr.port;
}

/** The HTTP port of the test server. */
export function httpPort(app: Application): number {
  return app.server(AdminTestServer).address()?.port as number;
}

/** One parsed sample line of the Prometheus text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition: samples plus `# TYPE` per family. */
export function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name, type);
      continue;
    }
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const m of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]] = m[2];
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return { samples, types };
}

/** The value of the one sample with this name and these labels (undefined if none). */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples match ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
