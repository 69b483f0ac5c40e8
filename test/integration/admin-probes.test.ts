import 'reflect-metadata';
import * as http from 'node:http';
import { expect } from 'chai';
import { createTestApp } from '../../src/testing';
import { AdminTestServer, adminPort, get, httpPort, parseMetrics, valueOf } from './admin-support';

/** A provider whose onInit waits until the test lets it go, to observe a slow boot. */
class SlowInit {
  static entered: () => void = () => undefined;
  static release: Promise<void> = Promise.resolve();
  async onInit(): Promise<void> {
    SlowInit.entered();
    await SlowInit.release;
  }
}

describe('admin /readyz and /healthz across the lifecycle', () => {
  let app: ReturnType<typeof createTestApp> | undefined;
  afterEach(async () => {
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  it('answers 503 "starting" on /readyz and 200 on /healthz while onInit runs, then 200 when ready', async () => {
    let release!: () => void;
    const entered = new Promise<void>((resolve) => (SlowInit.entered = resolve));
    SlowInit.release = new Promise<void>((resolve) => (release = resolve));
    app = createTestApp({ servers: [AdminTestServer], providers: [SlowInit], config: { admin: {} } });
    const starting = app.start();
    await entered;
    const port = adminPort(app);
    const early = await get(port, '/readyz');
    expect(early.status).to.equal(503);
    expect(JSON.parse(early.body)).to.deep.equal({ status: 'not ready', state: 'starting' });
    expect((await get(port, '/healthz')).status).to.equal(200);
    release();
    await starting;
    const ready = await get(port, '/readyz');
    expect(ready.status).to.equal(200);
    expect(JSON.parse(ready.body)).to.deep.equal({ status: 'ready', state: 'running' });
  });

  it('flips /readyz to 503 in the first shutdown phase (during drainDelay) while /metrics still answers, and closes at the end', async () => {
    app = createTestApp({ servers: [AdminTestServer], config: { admin: {}, shutdown: { drainDelay: 400 } } });
    await app.start();
    const port = adminPort(app);
    const agent = new http.Agent({ keepAlive: true });
    try {
      expect((await get(httpPort(app), '/', { agent })).status).to.equal(200);
      const notReady = new Promise<void>((resolve) => app!.events.on('readinessChanged', ({ ready }) => !ready && resolve()));
      const stopping = app.stop();
      await notReady;
      const during = await get(port, '/readyz');
      expect(during.status).to.equal(503);
      expect(JSON.parse(during.body)).to.deep.equal({ status: 'not ready', state: 'stopping' });
      expect((await get(port, '/healthz')).status).to.equal(200);
      const { samples } = parseMetrics((await get(port, '/metrics')).body);
      expect(valueOf(samples, 'unipool_ready')).to.equal(0);

      const phases = new Set<string>();
      app.events.on('shutdownPhase', ({ phase }) => phases.add(phase));
      const result = await stopping;
      expect(result.ok).to.equal(true);
      expect([...phases]).to.include.members(['readiness', 'stopAccepting', 'drain', 'force', 'hooks']);
      expect(app.stats.shutdownPhases.get('readiness')).to.be.at.least(390);
      expect(app.adminAddress()).to.equal(undefined);
      const refused = await get(port, '/healthz').then(
        () => 'answered',
        (err: NodeJS.ErrnoException) => err.code,
      );
      expect(refused).to.equal('ECONNREFUSED');
    } finally {
      agent.destroy();
    }
  });

  it('logs the admin endpoint at boot and each shutdown phase with its duration', async () => {
    app = createTestApp({ servers: [AdminTestServer], config: { admin: {} } });
    await app.start();
    const boot = app.logs.find('admin listening');
    expect(boot).to.have.length(1);
    expect(boot[0].fields).to.include({ host: '127.0.0.1', port: adminPort(app), auth: 'none' });
    await app.stop();
    const phases = app.logs.find('shutdown phase done').map((r) => r.fields.phase);
    expect(phases).to.deep.equal(['readiness', 'stopAccepting', 'drain', 'force', 'hooks']);
    for (const r of app.logs.find('shutdown phase done')) expect(r.fields.durationMs).to.be.a('number');
  });

  it('fails the boot with a clear error when the admin port is taken, and leaves nothing open', async () => {
    const blocker = http.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const taken = (blocker.address() as { port: number }).port;
      app = createTestApp({ servers: [AdminTestServer], config: { admin: { port: taken } } });
      const err = await app.start().then(
        () => undefined,
        (e: { code?: string; message: string }) => e,
      );
      expect(err?.code).to.equal('UNIPOOL_LISTEN_FAILED');
      expect(err?.message).to.match(/AdminServer could not listen/);
      expect(app.state).to.equal('failed');
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
