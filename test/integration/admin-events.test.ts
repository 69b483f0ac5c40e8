import 'reflect-metadata';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestApp } from '../../src/testing';
import type { DashboardFrame } from '../../src/observability/dashboard/dashboard-frames';
import { openEventStream, type EventStreamClient } from '../helpers/event-stream-client';
import { waitFor } from '../helpers/http-fixtures';
import { makeTlsFixtures, TestHttpsServer, type TlsFixtures } from '../helpers/https-fixtures';
import { REPO_ROOT } from '../helpers/sample-process';
import { AdminTestServer, adminPort, get, httpPort } from './admin-support';

const TOKEN = 'dash-Token-7Hq2LmZx9Pw';
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

  afterEach(async () => {
    for (const s of streams.splice(0)) s.leave();
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
    await waitFor(() => a.frames().length >= 1 && b.frames().length >= 1, 5000, 'first frames');
    const result = await app!.stop();
    expect(result.ok).to.equal(true);
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
