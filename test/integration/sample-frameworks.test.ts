import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, startSample, waitForOutput, writeTempConfig, type SampleProcess } from '../helpers/sample-process';
import { run } from '../helpers/metrics-clients';

const SCRIPT = 'dist/samples/frameworks/main.js';
const SERVERS = ['ExpressServer', 'KoaServer', 'FastifyServer'] as const;

/** The sample's own config.json. */
function sampleConfig(): Record<string, Record<string, unknown>> {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'samples/frameworks/config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
}

describe('samples/frameworks as a process (npm run sample:frameworks)', function () {
  this.timeout(30_000);
  let sample: SampleProcess | undefined;

  afterEach(async () => {
    if (sample && sample.child.exitCode === null && sample.child.signalCode === null) {
      sample.child.kill('SIGKILL');
      await sample.exited;
    }
    sample = undefined;
  });

  it('issue 12 samples/frameworks: its script runs it, on ports of its own config; Express, Koa and Fastify answer curl, /status counts each in its own pool, and SIGTERM drains and exits 0', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['sample:frameworks']).to.contain(`node ${SCRIPT}`);
    expect(pkg.scripts.start).to.equal('node dist/samples/multi-protocol/main.js');
    const own = sampleConfig();
    expect(new Set(Object.values(own).map((s) => s.port).filter((p) => p !== undefined)).size, 'one port per section').to.equal(4);

    const config = sampleConfig();
    for (const section of Object.values(config)) if ('port' in section) section.port = 0;
    sample = startSample(SCRIPT, writeTempConfig(config));
    await waitForOutput(sample, /admin\s+http:\/\/127\.0\.0\.1:\d+\/status/);
    const out = sample.stdout();
    for (const name of SERVERS) {
      const port = new RegExp(`${name}\\s+http://127\\.0\\.0\\.1:(\\d+)/`).exec(out)![1];
      const r = await run('/usr/bin/curl', ['-sS', `http://127.0.0.1:${port}/`]);
      expect(r.stdout).to.equal(`hello from ${name.replace('Server', '').toLowerCase()}\n`);
    }
    const admin = /admin\s+http:\/\/127\.0\.0\.1:(\d+)\/status/.exec(out)![1];
    const status = JSON.parse((await run('/usr/bin/curl', ['-sSf', `http://127.0.0.1:${admin}/status`])).stdout) as { pools: Array<{ pool: string; poolClass: string; metrics: { requests: { total: number } } }> };
    expect(status.pools.map((p) => [p.pool, p.poolClass, p.metrics.requests.total])).to.deep.equal([
      ['express', 'ExpressPool', 1],
      ['koa', 'KoaPool', 1],
      ['fastify', 'FastifyPool', 1],
    ]);
    sample.child.kill('SIGTERM');
    expect(await sample.exited).to.equal(0);
    expect(sample.stderr()).to.equal('');
  });
});
