import 'reflect-metadata';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { createTestApp, CapturingLogger } from '../../src/testing';
import { AdminConfig } from '../../src/observability/admin-config';
import { AdminServer } from '../../src/observability/admin-server';
import type { DashboardFrame } from '../../src/observability/dashboard/dashboard-frames';
import { openEventStream, type EventStreamClient } from '../helpers/event-stream-client';
import { waitFor } from '../helpers/http-fixtures';
import { makeTlsFixtures, TestHttpsServer, type TlsFixtures } from '../helpers/https-fixtures';
import { REPO_ROOT } from '../helpers/sample-process';
import { PYTHON } from '../helpers/metrics-clients';
import { AdminTestServer, adminPort, get, httpPort } from './admin-support';

const run = promisify(execFile);
const TOKEN = 'dash-Token-7Hq2LmZx9Pw';

/** Opens `GET /events` with a 4 KiB receive buffer, prints the status line, then never reads. */
const NEVER_READING_CLIENT = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /events HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n")
head = s.recv(64)
print(head.split(b"\\r\\n")[0].decode(), flush=True)
time.sleep(60)
`;
const AUTH = { authorization: `Bearer ${TOKEN}` };

interface StatusPool {
  pool: string;
  metrics: { requests: { total: number; failed: number }; totalConnections: number };
}

describe('admin /events (Server-Sent Events) and /dashboard, with a plain HTTP client', function () {
  this.timeout(30_000);
  let app: ReturnType<typeof createTestApp> | undefined;
  let tls: TlsFixtures | undefined;
  const streams: EventStreamClient[] = [];
  const sockets: net.Socket[] = [];
  const children: ChildProcess[] = [];
  let extraAdmin: AdminServer | undefined;

  afterEach(async () => {
    for (const s of streams.splice(0)) s.leave();
    for (const s of sockets.splice(0)) s.destroy();
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await new Promise((resolve) => c.once('exit', resolve));
      }
    }
    await extraAdmin?.close();
    extraAdmin = undefined;
    if (app?.state === 'running') await app.stop();
    app = undefined;
    tls?.cleanup();
    tls = undefined;
  });

  async function start(admin: Record<string, unknown> = {}): Promise<number> {
    app = createTestApp({ servers: [AdminTestServer], config: { admin } });
    await app.start();
    return adminPort(app);
  }

  async function open(port: number, headers = {}): Promise<EventStreamClient> {
    const s = await openEventStream(port, headers);
    streams.push(s);
    return s;
  }

  /** A raw client of `GET /events` that reads the answer's first chunk and then nothing (a stalled or vanished viewer). */
  async function neverReads(port: number): Promise<net.Socket> {
    const socket = net.connect({ host: '127.0.0.1', port });
    sockets.push(socket);
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.on('error', () => undefined);
    const head = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
    socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    // The first chunk (the stream is open: 200), then it reads no more; node stops taking bytes
    // from the kernel once its own 16 KiB buffer is full, and the kernel buffers fill next.
    expect(await head).to.match(/^HTTP\/1\.1 200 /);
    socket.pause();
    return socket;
  }

  it('rotating admin.token by a reload ends every open stream (opened with the old token or with none) with end "token changed"; the old token then gets 401', async () => {
    const port = await start({});
    const anonymous = await open(port);
    await waitFor(() => anonymous.frames().length >= 1, 5000, 'a frame without a token');
    const reloadTo = (token: string) => app!.reload({ http: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token } });
    const T1 = 'rotation-token-one-0123456789';
    const T2 = 'rotation-token-two-0123456789';
    expect((await reloadTo(T1)).ok).to.equal(true);
    expect(await anonymous.ended).to.equal('end');
    expect(anonymous.events.at(-1)).to.deep.include({ event: 'end', data: '{"reason":"token changed"}' });
    const old = await open(port, { authorization: `Bearer ${T1}` });
    expect(old.status).to.equal(200);
    await waitFor(() => old.frames().length >= 1, 5000, 'a frame with T1');
    expect((await reloadTo(T2)).ok).to.equal(true);
    expect(await old.ended).to.equal('end');
    expect(old.events.at(-1)).to.deep.include({ event: 'end', data: '{"reason":"token changed"}' });
    const framesAtRotation = old.frames().length;
    expect((await open(port, { authorization: `Bearer ${T1}` })).status).to.equal(401);
    const fresh = await open(port, { authorization: `Bearer ${T2}` });
    expect(fresh.status).to.equal(200);
    await waitFor(() => fresh.frames().length >= 2, 5000, 'frames with T2 after the rotation');
    expect(old.frames()).to.have.length(framesAtRotation);
    // The same token again changes nothing: the open stream stays.
    expect((await reloadTo(T2)).ok).to.equal(true);
    const before = fresh.frames().length;
    await waitFor(() => fresh.frames().length >= before + 1, 5000, 'a frame after a reload with the same token');
    expect(fresh.events.some((e) => e.event === 'end')).to.equal(false);
  });

  it('a client that never reads loses its stream (and its slot) once its unsent bytes stayed queued for the stall timeout', async () => {
    // Its own admin server, so the frame interval and the stall timeout can be short (defaults: 1 s
    // and 15 s), and the byte bound (default 256 KiB) out of reach: only the stall rule can drop it.
    app = createTestApp({ servers: [AdminTestServer], config: { admin: { enabled: false } } });
    await app.start();
    const config = Object.assign(new AdminConfig(), { port: 0, maxEventStreams: 1 });
    const logger = new CapturingLogger();
    extraAdmin = new AdminServer(config, app!, app!.metrics, logger, { intervalMs: 1, stallTimeoutMs: 300, maxBufferedBytes: 64 * 1024 * 1024 });
    await extraAdmin.listen();
    const port = extraAdmin.address()!.port;
    // A Python client with a 4 KiB receive buffer (loopback's default grows to MBs): it reads the
    // response head, says so, and never reads again, so the server's writes pile up within a second.
    const client = spawn(PYTHON, ['-c', NEVER_READING_CLIENT, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(client);
    let said = '';
    client.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
    client.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
    await waitFor(() => said.includes('\n'), 10_000, 'the Python client to open its stream');
    expect(said).to.match(/^HTTP\/1\.1 200 /);
    expect((await open(port)).status, 'the never-reading stream holds the slot').to.equal(503);
    let next: EventStreamClient | undefined;
    const started = Date.now();
    for (; Date.now() - started < 20_000 && next?.status !== 200; ) {
      next = await open(port);
      if (next.status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(next?.status, 'a new stream is taken once the stalled one is dropped').to.equal(200);
    const dropped = logger.find('dashboard stream dropped: the client stopped reading');
    expect(dropped).to.have.length(1);
    // Dropped by the stall rule: frames had waited unsent at every tick for the stall timeout.
    const { bufferedBytes, stalledMs } = dropped[0].fields as { bufferedBytes: number; stalledMs: number };
    expect(bufferedBytes).to.be.above(0).and.below(64 * 1024 * 1024);
    expect(stalledMs).to.be.at.least(300);
    expect(client.exitCode, 'the client is still there, not reading').to.equal(null);
  });

  it('/events sockets use TCP keep-alive (ss shows a keepalive timer on the server side of the stream)', async () => {
    const port = await start({});
    const stream = await open(port);
    await waitFor(() => stream.frames().length >= 1, 5000, 'a frame');
    const timers = async (): Promise<string> => (await run('ss', ['-tnoH', 'state', 'established', `( sport = :${port} )`])).stdout;
    let seen = '';
    // Between two frames the only timer of the server's socket is keep-alive's (while a frame is unacknowledged it is the retransmit timer).
    for (let i = 0; i < 50 && !seen.includes('timer:(keepalive'); i++) {
      seen = await timers();
      if (!seen.includes('timer:(keepalive')) await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen).to.include('timer:(keepalive');
  });

  it('streams one JSON frame at once and then one per second (text/event-stream, not cached), every pool with the figures /status shows, for longer than admin.requestTimeout', async () => {
    const port = await start({ requestTimeout: 1000 });
    const stream = await open(port);
    expect(stream.status).to.equal(200);
    expect(stream.headers['content-type']).to.equal('text/event-stream; charset=utf-8');
    expect(stream.headers['cache-control']).to.equal('no-store');
    await waitFor(() => stream.frames().length >= 1, 5000, 'the first frame');
    for (let i = 0; i < 3; i++) expect((await get(httpPort(app!), i === 2 ? '/fail' : '/')).status).to.be.oneOf([200, 500]);
    await waitFor(() => stream.frames().length >= 4, 10_000, 'four frames');
    const at = stream.events.filter((e) => e.event === 'message').map((e) => e.at);
    // A timer never fires early: three intervals after the first frame take at least ~3 s.
    expect(at[3] - at[0]).to.be.at.least(2900);
    const status = JSON.parse((await get(port, '/status')).body) as { pools: StatusPool[] };
    await waitFor(() => stream.frames<DashboardFrame>().at(-1)!.pools[0].metrics.requests.total === 3, 5000, 'a frame after the traffic');
    const last = stream.frames<DashboardFrame>().at(-1)!;
    expect(last.state).to.equal('running');
    expect(last.pools.map((p) => p.pool)).to.deep.equal(status.pools.map((p) => p.pool));
    expect(last.pools[0].metrics.requests).to.deep.include({ total: status.pools[0].metrics.requests.total, failed: 1 });
    expect(last.pools[0].metrics.totalConnections).to.equal(status.pools[0].metrics.totalConnections);
    expect(last.pools[0].known.rejectReasons).to.include('max_connections');
    expect(last.shutdown).to.deep.equal({ phases: ['readiness', 'stopAccepting', 'drain', 'force', 'hooks'], done: [] });
  });

  it('refuses a stream over admin.maxEventStreams with 503 + Retry-After, and takes a new one once a client went away', async () => {
    const port = await start({ maxEventStreams: 2 });
    const a = await open(port);
    await open(port);
    const refused = await open(port);
    expect(refused.status).to.equal(503);
    expect(refused.headers['retry-after']).to.equal('5');
    await refused.ended;
    expect(JSON.parse(refused.body)).to.deep.include({ status: 'too many event streams', maxEventStreams: 2 });
    a.leave();
    let next: EventStreamClient | undefined;
    for (let i = 0; i < 100 && next?.status !== 200; i++) {
      next = await open(port);
      if (next.status !== 200) await new Promise((r) => setTimeout(r, 20));
    }
    expect(next?.status).to.equal(200);
  });

  it('requires the bearer token on /events when admin.token is set (401 without it or with a wrong one), and no frame carries the token or key material', async () => {
    tls = await makeTlsFixtures();
    app = createTestApp({ servers: [AdminTestServer, TestHttpsServer], config: { admin: { token: TOKEN }, https: { tls: { cert: tls.cert, key: tls.key } } } });
    await app.start();
    const port = adminPort(app);
    for (const headers of [{}, { authorization: 'Bearer wrong-token-of-enough-length' }]) {
      const refused = await open(port, headers);
      expect(refused.status).to.equal(401);
      expect(refused.headers['www-authenticate']).to.equal('Bearer realm="unipool"');
    }
    const stream = await open(port, AUTH);
    expect(stream.status).to.equal(200);
    await waitFor(() => stream.frames().length >= 1, 5000, 'a frame');
    const raw = stream.events.map((e) => e.data).join('\n');
    const keyPem = readFileSync(tls.key, 'utf8');
    for (const secret of [TOKEN, 'PRIVATE KEY', keyPem.split('\n')[1], tls.key]) expect(raw).to.not.include(secret);
    const https = stream.frames<DashboardFrame>()[0].pools.find((p) => p.protocol === 'https')!;
    expect((https.metrics as unknown as { tls: { certificate: { daysUntilExpiry: number } } }).tls.certificate.daysUntilExpiry).to.be.above(300);
    // The page and its scripts need no token (they carry no figure) and never hold one.
    for (const path of ['/dashboard', '/dashboard/dashboard.js', '/dashboard/dashboard.css']) {
      const reply = await get(port, path);
      expect(reply.status, path).to.equal(200);
      for (const secret of [TOKEN, 'PRIVATE KEY', tls.key]) expect(reply.body).to.not.include(secret);
    }
  });

  it('app.stop() streams the shutdown phases as they run, then ends every stream with an end event, and open streams do not hold the shutdown', async () => {
    const port = await start({ maxEventStreams: 3 });
    const a = await open(port);
    const b = await open(port);
    await neverReads(port); // never reads its frames: ending its stream cannot flush
    await waitFor(() => a.frames().length >= 1 && b.frames().length >= 1, 5000, 'first frames');
    const began = Date.now();
    const result = await app!.stop();
    expect(result.ok).to.equal(true);
    // Far below shutdown.timeout and the drain deadline: no stream, read or not, is waited for.
    expect(Date.now() - began).to.be.below(3000);
    expect(await a.ended).to.equal('end');
    expect(await b.ended).to.equal('end');
    for (const s of [a, b]) {
      expect(s.events.at(-1)).to.deep.include({ event: 'end', data: '{"reason":"shutdown"}' });
      const frames = s.frames<DashboardFrame>();
      const running = frames.map((f) => f.shutdown.running).filter((r) => r !== undefined);
      // Pushed as each phase ends (not only on the 1 s tick): the page sees every phase under way.
      expect(running).to.include.members(['stopAccepting', 'drain', 'force', 'hooks']);
      expect(frames.at(-1)!.shutdown.done.map((d) => d.phase)).to.deep.equal(['readiness', 'stopAccepting', 'drain', 'force', 'hooks']);
    }
    // Nothing listens afterwards: the admin port is closed.
    await openEventStream(port).then(
      () => expect.fail('the admin server still answers'),
      (err: NodeJS.ErrnoException) => expect(err.code).to.equal('ECONNREFUSED'),
    );
  });

  it('serves /dashboard (HTML, landmarks, no CDN, a strict Content-Security-Policy) and uPlot from the installed package', async () => {
    const port = await start();
    const page = await get(port, '/dashboard');
    expect(page.status).to.equal(200);
    expect(page.headers['content-type']).to.equal('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).to.include("default-src 'none'").and.include("script-src 'self'").and.include("connect-src 'self'");
    expect(page.headers['x-content-type-options']).to.equal('nosniff');
    expect(page.body).to.match(/<html lang="en">/).and.match(/<main\b/).and.match(/<header\b/);
    // Every script and style comes from the admin server itself, by a relative URL (a proxy may mount it under a prefix).
    const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs).to.include.members(['dashboard/uPlot.iife.min.js', 'dashboard/uPlot.min.css', 'dashboard/dashboard.js', 'dashboard/dashboard.css']);
    for (const ref of refs) expect(ref).to.match(/^(dashboard\/|#)/);
    const uplot = await get(port, '/dashboard/uPlot.iife.min.js');
    expect(uplot.status).to.equal(200);
    expect(uplot.headers['content-type']).to.equal('text/javascript; charset=utf-8');
    expect(uplot.body).to.equal(readFileSync(join(REPO_ROOT, 'node_modules/uplot/dist/uPlot.iife.min.js'), 'utf8'));
    expect((await get(port, '/dashboard/uPlot.min.css')).headers['content-type']).to.equal('text/css; charset=utf-8');
    const slash = await get(port, '/dashboard/');
    expect([slash.status, slash.headers.location]).to.deep.equal([301, '../dashboard']);
    const head = await get(port, '/events', { method: 'HEAD' });
    expect([head.status, head.headers['content-type'], head.body]).to.deep.equal([200, 'text/event-stream; charset=utf-8', '']);
    expect((await get(port, '/dashboard/../package.json')).status).to.equal(404);
    expect((await get(port, '/dashboard/nothing.js')).status).to.equal(404);
    expect((await get(port, '/events', { method: 'POST' })).status).to.equal(405);
  });

  it('admin.dashboard false: /dashboard and /events answer 404', async () => {
    const port = await start({ dashboard: false });
    expect((await get(port, '/dashboard')).status).to.equal(404);
    expect((await get(port, '/dashboard/dashboard.js')).status).to.equal(404);
    const events = await open(port);
    expect(events.status).to.equal(404);
  });
});
