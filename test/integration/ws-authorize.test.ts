import 'reflect-metadata';
import { expect } from 'chai';
import type * as http from 'node:http';
import * as net from 'node:net';
import { PoolConfig, UsePool, WebSocketConnectionPool, WebSocketPoolConfig, type Application, type UpgradeVerdict } from '../../src';
import { createTestApp } from '../../src/testing';
import { TestHttpServer, waitFor } from '../helpers/http-fixtures';
import { run, samplesOf, scrapeWithCurl } from '../helpers/metrics-clients';
import { pythonWsClient, stopPythonClients } from '../helpers/ws-python';
import { TestWsServer } from './ws-support';

/**
 * Authorises by the request path's query: `?as=ok` admits, `?as=later` admits after a promise,
 * `?as=forbidden` answers 403 with headers, `?as=never` never settles, `?as=boom` rejects,
 * anything else refuses (401).
 */
@UsePool(WebSocketConnectionPool)
class GuardedWsServer extends TestWsServer {
  /** The `as` of every authorisation asked for, in order. */
  readonly asked: string[] = [];

  constructor(@PoolConfig(WebSocketPoolConfig, 'ws') config: WebSocketPoolConfig) {
    super(config);
  }

  override authorizeUpgrade(req: http.IncomingMessage): UpgradeVerdict | Promise<UpgradeVerdict> {
    const as = new URL(req.url ?? '/', 'http://x').searchParams.get('as');
    this.asked.push(String(as));
    if (as === 'ok') return true;
    if (as === 'later') return new Promise<boolean>((resolve) => setImmediate(() => resolve(true)));
    if (as === 'forbidden') return { status: 403, headers: { 'X-Denied-By': 'policy', 'WWW-Authenticate': 'Bearer realm="feed"' } };
    if (as === 'never') return new Promise<boolean>(() => undefined);
    if (as === 'boom') return Promise.reject(new Error('token service down'));
    if (as === 'throw') throw new Error('authorizer bug');
    if (as === 'bad-status') return { status: 200 };
    if (as === 'bad-header') return { status: 403, headers: { 'X-Injected': 'a\r\nSet-Cookie: stolen=1' } };
    return false;
  }
}

const UPGRADE_HEADERS = ['-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', '-H', 'Sec-WebSocket-Version: 13', '-H', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];

/** Sends a WebSocket upgrade request with curl; resolves with the status line's code, the response headers (lower-case) and the body. */
async function curlUpgrade(url: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const r = await run('/usr/bin/curl', ['-sS', '--max-time', '10', '-D', '-', ...UPGRADE_HEADERS, url]);
  const [head, ...rest] = r.stdout.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const at = line.indexOf(':');
    headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0])?.[1] ?? 0), headers, body: rest.join('\r\n\r\n') };
}

/** Both layouts: the WebSocket server on its own port, and attached to the HTTP server's. */
const LAYOUTS = [
  { name: 'own port', attached: false },
  { name: 'attached to http', attached: true },
] as const;

describe('issue 12: authorizeUpgrade', () => {
  let app: Application | undefined;

  afterEach(async () => {
    await stopPythonClients();
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  async function start(attached: boolean, ws: Record<string, unknown> = {}) {
    const started = createTestApp({
      servers: attached ? [TestHttpServer, GuardedWsServer] : [GuardedWsServer],
      config: { ws: attached ? { attachTo: 'http', ...ws } : ws, admin: { enabled: true } },
    });
    app = started;
    await started.start();
    const server = started.server(GuardedWsServer);
    return { app: started, pool: server.pool, base: `127.0.0.1:${server.address()!.port}/ws`, admin: started.adminAddress()!.port };
  }

  for (const layout of LAYOUTS) {
    it(`issue 12 authorizeUpgrade (${layout.name}): false is answered 401 (curl), counted as rejection "unauthorized", which /metrics reports from 0`, async () => {
      const { pool, base, admin } = await start(layout.attached);
      const before = samplesOf(await scrapeWithCurl(admin), 'unipool_connections_rejected_total', { protocol: 'ws', reason: 'unauthorized' });
      expect(before.map((s) => s.value)).to.deep.equal([0]);
      const refused = await curlUpgrade(`http://${base}?as=nobody`);
      expect(refused.status).to.equal(401);
      expect(refused.body).to.equal('unauthorized\n');
      expect(pool.getMetrics().rejected.byReason).to.deep.equal({ unauthorized: 1 });
      expect(pool.size).to.equal(0);
      const after = samplesOf(await scrapeWithCurl(admin), 'unipool_connections_rejected_total', { protocol: 'ws', reason: 'unauthorized' });
      expect(after.map((s) => s.value)).to.deep.equal([1]);
    });

    it(`issue 12 authorizeUpgrade (${layout.name}): { status: 403, headers } is answered 403 with those headers (curl)`, async () => {
      const { pool, base } = await start(layout.attached);
      const refused = await curlUpgrade(`http://${base}?as=forbidden`);
      expect(refused.status).to.equal(403);
      expect(refused.headers['x-denied-by']).to.equal('policy');
      expect(refused.headers['www-authenticate']).to.equal('Bearer realm="feed"');
      expect(refused.headers.connection).to.equal('close');
      expect(pool.getMetrics().rejected.byReason).to.deep.equal({ unauthorized: 1 });
    });

    it(`issue 12 authorizeUpgrade (${layout.name}): a promise resolving true is accepted and echoes; true at once too (Python websockets)`, async () => {
      const { pool, base } = await start(layout.attached);
      const later = pythonWsClient(`ws://${base}?as=later`);
      expect(await later.line(/^echo /)).to.equal('echo hi');
      const now = pythonWsClient(`ws://${base}?as=ok`);
      expect(await now.line(/^echo /)).to.equal('echo hi');
      const refused = pythonWsClient(`ws://${base}`);
      expect(await refused.line(/^status /)).to.equal('status 401');
      const m = pool.getMetrics();
      expect(m.totalConnections).to.equal(2);
      expect(m.rejected.byReason).to.deep.equal({ unauthorized: 1 });
    });
  }

  it('issue 12 authorizeUpgrade: a promise that never settles is answered 503 at handshakeTimeout and the socket is closed (no leak)', async () => {
    const { pool, base } = await start(false, { handshakeTimeout: 300 });
    const started = Date.now();
    const refused = await curlUpgrade(`http://${base}?as=never`);
    expect(refused.status).to.equal(503);
    expect(refused.headers['retry-after']).to.equal('1');
    expect(Date.now() - started).to.be.at.least(250);
    expect(pool.getMetrics().timeouts.handshake).to.equal(1);
    expect(pool.size).to.equal(0);
  });

  it('issue 12 authorizeUpgrade: a rejecting promise is answered 500, counted as a handler error and logged', async () => {
    const { app: started, pool, base } = await start(true);
    const refused = await curlUpgrade(`http://${base}?as=boom`);
    expect(refused.status).to.equal(500);
    expect(pool.getMetrics().errors.byType).to.deep.include({ handler: 1 });
    expect((started as ReturnType<typeof createTestApp>).logs.find('authorizeUpgrade failed')).to.have.length(1);
  });

  it('issue 12 authorizeUpgrade: a synchronous throw, a refusal with a status outside 4xx/5xx or a header with CR/LF is answered 500 (no header injection)', async () => {
    const { app: started, pool, base } = await start(false);
    for (const as of ['throw', 'bad-status', 'bad-header']) {
      const refused = await curlUpgrade(`http://${base}?as=${as}`);
      expect(refused.status, as).to.equal(500);
      expect(refused.headers['set-cookie'], as).to.equal(undefined);
    }
    expect(pool.getMetrics().errors.byType).to.deep.include({ handler: 3 });
    expect(pool.getMetrics().rejected.byReason).to.deep.equal({});
    expect((started as ReturnType<typeof createTestApp>).logs.find('authorizeUpgrade failed')).to.have.length(3);
  });

  it('issue 12 authorizeUpgrade: a client waiting on a pending authorisation does not hold up the shutdown', async () => {
    const { app: started, base } = await start(true, { handshakeTimeout: 60_000 });
    const [host, rest] = base.split(':');
    const socket = net.connect(Number(rest.split('/')[0]), host);
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('GET /ws?as=never HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await waitFor(() => started.server(GuardedWsServer).asked.includes('never'), 5000, 'the authorisation to be asked for');
    const t0 = Date.now();
    const result = await started.stop();
    await closed;
    expect(Date.now() - t0).to.be.below(5000);
    expect(result.ok).to.equal(true);
  });
});
