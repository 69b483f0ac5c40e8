import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { ReloadResult } from '../../src';
import { createTestApp } from '../../src/testing';
import { AdminTestServer, get, httpPort } from './admin-support';

describe('SIGHUP reload', () => {
  let dir: string;
  let file: string;
  let app: ReturnType<typeof createTestApp> | undefined;
  const listenersBefore = { SIGHUP: 0, SIGTERM: 0, SIGINT: 0 };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'unipool-sighup-'));
    file = join(dir, 'config.json');
    for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) listenersBefore[signal] = process.listenerCount(signal);
  });

  afterEach(async () => {
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  function next<K extends 'configReloaded' | 'configReloadFailed'>(event: K): Promise<ReloadResult> {
    return new Promise((resolve) => app!.events.once(event, resolve));
  }

  it('reloads the file on SIGHUP, keeps the old config when the file is invalid, and removes its handlers on stop', async () => {
    writeFileSync(file, JSON.stringify({ http: { host: '127.0.0.1', port: 0, maxConnections: 4 } }));
    app = createTestApp({ servers: [AdminTestServer], config: file, handleSignals: true });
    await app.start();
    expect(process.listenerCount('SIGHUP')).to.equal(listenersBefore.SIGHUP + 1);

    writeFileSync(file, JSON.stringify({ http: { host: '127.0.0.1', port: 0, maxConnections: 9 } }));
    const reloaded = next('configReloaded');
    process.kill(process.pid, 'SIGHUP');
    expect((await reloaded).applied).to.deep.equal(['http.maxConnections']);
    expect(app.pools[0].config.maxConnections).to.equal(9);

    writeFileSync(file, JSON.stringify({ http: { host: '127.0.0.1', port: 0, maxConnections: -1, idleTimeout: 'soon' } }));
    const rejected = next('configReloadFailed');
    process.kill(process.pid, 'SIGHUP');
    const failure = await rejected;
    expect([...new Set(failure.problems.map((p) => p.path))]).to.have.members(['http.maxConnections', 'http.idleTimeout']);
    expect(app.pools[0].config.maxConnections).to.equal(9);
    expect(app.state).to.equal('running');
    expect((await get(httpPort(app), '/')).status).to.equal(200);
    expect(app.logs.find('signal received: reloading config')).to.have.length(2);

    await app.stop();
    for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) expect(process.listenerCount(signal), signal).to.equal(listenersBefore[signal]);
  });
});
