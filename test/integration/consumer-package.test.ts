import { expect } from 'chai';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../helpers/http-fixtures';
import { pythonWsClient, stopPythonClients } from '../helpers/ws-python';

/**
 * The package as a user receives it: `npm pack`, installed into a fresh CommonJS project and a
 * fresh ES module project with only what the README's Install section lists, compiled with the
 * lowest TypeScript the README names and the README's tsconfig, then run: the Quick start as
 * written, a bad config, an Express app and a Koa app as handlers, a Fastify app through its
 * serverFactory and a WebSocket server attached to the HTTP port, driven with curl and Python's
 * websockets; a file of misuses the published declarations must reject compiles with them.
 */

const run = promisify(execFile);
const ROOT = join(__dirname, '../../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** The lowest TypeScript the README supports; the consumers compile with it. */
const MIN_TYPESCRIPT = '5.8';
const REPO = 'https://github.com/unipool/unipool/blob/main/';
/** The frameworks the README's "Frameworks" section supports, as the consumers install them. */
const FRAMEWORK_DEPS = ['express@^5', '@types/express@^5', 'koa@^3', '@types/koa@^3', 'fastify@^5'];
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

/** The first fenced block of `lang` after `heading` in the README. */
function readmeBlock(heading: string, lang: string): string {
  const at = README.indexOf(`\n${heading}\n`);
  expect(at, `README has no "${heading}"`).to.be.above(-1);
  const open = README.indexOf(`\n\`\`\`${lang}\n`, at);
  const close = README.indexOf('\n```\n', open + 1);
  return README.slice(open + lang.length + 5, close + 1);
}

/** npm settings a CI may give through the environment; the outer `npm test`'s other npm_* variables (its prefix, its script) stay out. */
const NPM_SETTINGS = /^npm_config_(cache|registry|userconfig|globalconfig|cafile|proxy|https_proxy|noproxy|strict_ssl)$/i;

/** The environment of the npm and node children: no variable of the outer `npm test`, of c8 or of unipool. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|UNIPOOL_|NODE_V8_COVERAGE$|INIT_CWD$)/i.test(key) && !NPM_SETTINGS.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

async function curl(url: string): Promise<string> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', url]);
  return stdout;
}

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A node child whose stdout JSON lines are collected. */
class NodeChild {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(cwd: string, script: string, env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [script], { cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      const parts = this.stdout.split('\n');
      for (const line of parts.slice(this.lines.length, -1)) this.lines.push(JSON.parse(line) as LogLine);
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  async line(msg: string, count = 1): Promise<LogLine[]> {
    await waitFor(() => this.lines.filter((l) => l.msg === msg).length >= count || this.child.exitCode !== null, 30_000);
    const found = this.lines.filter((l) => l.msg === msg);
    expect(found.length, `"${msg}" in:\n${this.stdout}\n${this.stderr}`).to.be.at.least(count);
    return found;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

describe('consumer: the packed tarball in fresh CommonJS and ES module projects', function () {
  let tmp: string;
  let packed: { filename: string; files: { path: string }[] };
  const children: NodeChild[] = [];
  const projects: Record<'commonjs' | 'module', string> = { commonjs: '', module: '' };

  before(async function () {
    this.timeout(300_000);
    tmp = mkdtempSync(join(tmpdir(), 'unipool-consumer-'));
    // The build is `npm test`'s pretest; pack what it emitted.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp, ...NPM_FLAGS], { cwd: ROOT, env: childEnv(), maxBuffer: 16 * 1024 * 1024 });
    packed = (JSON.parse(stdout) as (typeof packed)[])[0];
    const tarball = join(tmp, packed.filename);
    const tsconfig = readmeBlock('## Install', 'json');
    const quickStart = readmeBlock('### HTTP', 'ts');
    await Promise.all(
      (['commonjs', 'module'] as const).map(async (type) => {
        const dir = join(tmp, type);
        projects[type] = dir;
        mkdirSync(join(dir, 'src'), { recursive: true });
        mkdirSync(join(dir, 'config'));
        writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `unipool-consumer-${type}`, version: '1.0.0', private: true, type }, null, 2));
        // The README's Install section, with the TypeScript it names, and the frameworks the servers use.
        const deps = [tarball, 'reflect-metadata', `typescript@~${MIN_TYPESCRIPT}.0`, '@types/node@^20.19', ...FRAMEWORK_DEPS];
        await run('npm', ['install', ...NPM_FLAGS, ...deps], { cwd: dir, env: childEnv(), maxBuffer: 16 * 1024 * 1024 });
        writeFileSync(join(dir, 'tsconfig.json'), tsconfig);
        writeFileSync(join(dir, 'src/main.ts'), quickStart);
        copyFileSync(join(ROOT, 'test/consumer/frameworks.ts'), join(dir, 'src/frameworks.ts'));
        copyFileSync(join(ROOT, 'test/consumer/types-guide.ts'), join(dir, 'src/types-guide.ts'));
      }),
    );
  });

  afterEach(async () => {
    for (const child of children.splice(0)) child.kill();
    await stopPythonClients();
  });

  after(async function () {
    this.timeout(120_000); // two node_modules trees
    for (const child of children.splice(0)) child.kill();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('issue 12 packaging: the tarball ships the dashboard, the alert rules and the sources its maps name; package.json says where the project lives', () => {
    const files = new Set(packed.files.map((f) => f.path));
    expect(files).to.include.members(['docs/grafana/unipool.json', 'docs/prometheus/alerts.yml', 'README.md', 'LICENSE', 'dist/src/index.d.ts']);
    const manifest = JSON.parse(readFileSync(join(projects.commonjs, 'node_modules/unipool/package.json'), 'utf8')) as Record<string, { url?: string } | string>;
    expect(manifest.repository).to.deep.equal({ type: 'git', url: 'git+https://github.com/unipool/unipool.git' });
    expect(manifest.homepage).to.equal('https://github.com/unipool/unipool#readme');
    expect(manifest.bugs).to.deep.equal({ url: 'https://github.com/unipool/unipool/issues' });
    // @types/ws comes with the package: the declarations import `ws`.
    expect((manifest.dependencies as unknown as Record<string, string>)['@types/ws']).to.be.a('string');
    // Issue 16: the live dashboard's page is read at runtime from `src/` (tsc copies no HTML), where
    // the compiled admin server looks for it, and uPlot (served by the admin server) is installed with the package.
    const installed = join(projects.commonjs, 'node_modules/unipool');
    for (const asset of ['dashboard.html', 'dashboard.js', 'dashboard.css']) {
      expect(files).to.include(`src/observability/dashboard/assets/${asset}`);
      expect(existsSync(join(installed, 'dist/src/observability/dashboard', '../../../../src/observability/dashboard/assets', asset)), asset).to.equal(true);
    }
    expect((manifest.dependencies as unknown as Record<string, string>).uplot).to.be.a('string');
    expect(require.resolve('uplot/dist/uPlot.iife.min.js', { paths: [installed] }).startsWith(projects.commonjs)).to.equal(true);
    const maps = [...files].filter((f) => f.endsWith('.map'));
    expect(maps.length).to.be.above(10);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(projects.commonjs, 'node_modules/unipool', map), 'utf8')) as { sources: string[] };
      for (const source of sources) {
        const path = join(map, '..', source);
        if (!files.has(path)) missing.push(`${map} -> ${path}`);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it('issue 12 packaging: every README link works from npm (absolute, and a repo file that exists)', () => {
    const links = [...README.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
    expect(links.length).to.be.above(5);
    const relative = links.filter((l) => !/^(https?:|mailto:|#)/.test(l));
    expect(relative, 'relative links do not resolve on npmjs.com').to.deep.equal([]);
    const repoFiles = links.filter((l) => l.startsWith(REPO)).map((l) => l.slice(REPO.length).split('#')[0]);
    expect(repoFiles.filter((f) => !existsSync(join(ROOT, f)))).to.deep.equal([]);
  });

  for (const type of ['commonjs', 'module'] as const) {
    describe(`a "type": "${type}" project`, () => {
      it(`issue 12 packaging + types: compiles the README Quick start, the framework servers and the types guide (each misuse a compile error from the published .d.ts, app.server(X).pool typed without a cast) with TypeScript ${MIN_TYPESCRIPT} and the README tsconfig`, async function () {
        this.timeout(120_000);
        const dir = projects[type];
        const tsc = join(dir, 'node_modules/typescript/bin/tsc');
        const { stdout: version } = await run(process.execPath, [tsc, '--version'], { cwd: dir });
        expect(version.trim()).to.match(new RegExp(`^Version ${MIN_TYPESCRIPT.replace('.', '\\.')}\\.`));
        expect(README).to.contain(`TypeScript >= ${MIN_TYPESCRIPT}`);
        expect(README).to.contain('Supported: **Express 5**, **Koa 3** and **Fastify 5**');
        for (const dep of FRAMEWORK_DEPS) expect(README).to.contain(`\`${dep}\``);
        await run(process.execPath, [tsc, '-p', '.'], { cwd: dir }).catch((err: { stdout: string }) => expect.fail(`tsc failed:\n${err.stdout}`));
        expect(existsSync(join(dir, 'dist/main.js'))).to.equal(true);
        // The types guide compiled: each `@ts-expect-error` met its error (an unused one is TS2578 and fails tsc).
        expect(readFileSync(join(dir, 'src/types-guide.ts'), 'utf8').match(/^\s*\/\/ @ts-expect-error /gm)).to.have.length(3);
        expect(existsSync(join(dir, 'dist/types-guide.js'))).to.equal(true);
        // unipool's own declarations (and the ws / grpc-js / pino types they import) check clean without skipLibCheck.
        writeFileSync(join(dir, 'tsconfig.libcheck.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { skipLibCheck: false, noEmit: true }, files: ['src/main.ts'] }));
        await run(process.execPath, [tsc, '-p', 'tsconfig.libcheck.json'], { cwd: dir }).catch((err: { stdout: string }) => expect.fail(`tsc (skipLibCheck false) failed:\n${err.stdout}`));
      });

      it('issue 12 packaging: the Quick start runs unchanged, answers curl, and exits 0 on SIGTERM', async function () {
        this.timeout(60_000);
        const dir = projects[type];
        writeFileSync(join(dir, 'config/app.json'), JSON.stringify({ http: { host: '127.0.0.1', port: 0 } }));
        const app = new NodeChild(dir, 'dist/main.js');
        children.push(app);
        const [listening] = await app.line('listening');
        expect(await curl(`http://127.0.0.1:${listening.port as number}/`)).to.equal('ok');
        app.child.kill('SIGTERM');
        expect(await app.exited).to.equal(0);
        expect(app.stderr).to.equal('');
      });

      it('issue 12 packaging: a bad config prints one line (every problem, "did you mean"), no Node trace, exit 1', async function () {
        this.timeout(60_000);
        const dir = projects[type];
        writeFileSync(join(dir, 'config/app.json'), JSON.stringify({ http: { port: 0, maxConections: 5 } }));
        const app = new NodeChild(dir, 'dist/main.js');
        children.push(app);
        expect(await app.exited).to.equal(1);
        expect(app.stderr).to.equal('');
        expect(app.lines).to.have.length(1);
        expect(app.lines[0]).to.deep.include({
          level: 50,
          code: 'UNIPOOL_CONFIG_INVALID',
          msg: 'boot failed: invalid configuration (config/app.json): 1 problem',
          problems: ['http.maxConections: is not a known key (did you mean `maxConnections`?) (got 5)'],
        });
      });

      it('issue 12 packaging + frameworks + attachTo: Express and Koa handlers, Fastify through serverFactory and a WebSocket echo on the HTTP port (ws.attachTo) serve from one process on port 0 (config from UNIPOOL_CONFIG), each counted by its pool', async function () {
        this.timeout(60_000);
        const dir = projects[type];
        writeFileSync(join(dir, 'config/frameworks.json'), JSON.stringify({ http: { host: '127.0.0.1', port: 0 }, ws: { attachTo: 'http' }, admin: { host: '127.0.0.1', port: 0 } }));
        // A variable of a section no server reads is ignored with a warning, not a boot failure.
        const app = new NodeChild(dir, 'dist/frameworks.js', { UNIPOOL_CONFIG: 'config/frameworks.json', UNIPOOL_HTTPS_PORT: '3443' });
        children.push(app);
        const listening = await app.line('listening', 4);
        const [admin] = await app.line('admin listening');
        const port = (server: string) => listening.find((l) => l.server === server)?.port as number;
        for (let i = 0; i < 2; i++) expect(await curl(`http://127.0.0.1:${port('ExpressServer')}/hello`)).to.equal('hello from express');
        for (let i = 0; i < 2; i++) expect(await curl(`http://127.0.0.1:${port('KoaServer')}/`)).to.equal('hello from koa');
        for (let i = 0; i < 2; i++) expect(await curl(`http://127.0.0.1:${port('FastifyServer')}/`)).to.equal('hello from fastify');
        // One port: the WebSocket server listens on Express's; /ws upgrades echo, another path is 404, REST still answers.
        expect(port('EchoServer')).to.equal(port('ExpressServer'));
        const ws = pythonWsClient(`ws://127.0.0.1:${port('ExpressServer')}/ws`);
        expect(await ws.line(/^echo /)).to.equal('echo hi');
        expect(await pythonWsClient(`ws://127.0.0.1:${port('ExpressServer')}/other`).line(/^status /)).to.equal('status 404');
        expect(await curl(`http://127.0.0.1:${port('ExpressServer')}/hello`)).to.equal('hello from express');
        const status = JSON.parse(await curl(`http://127.0.0.1:${admin.port as number}/status`)) as { pools: { poolClass: string; metrics: { totalConnections: number; active: number; requests: { total: number; failed: number; inFlight: number } } }[] };
        const pool = (cls: string) => status.pools.find((p) => p.poolClass === cls)?.metrics;
        expect(pool('HttpConnectionPool')?.requests).to.deep.include({ total: 3, failed: 0, inFlight: 0 });
        expect(pool('KoaPool')?.requests).to.deep.include({ total: 2, failed: 0, inFlight: 0 });
        expect(pool('FastifyPool')?.requests).to.deep.include({ total: 2, failed: 0, inFlight: 0 });
        // The HTTP pool admits each TCP connection on its port, the two upgrades' too, until they upgrade.
        expect(pool('HttpConnectionPool')?.totalConnections).to.equal(5);
        expect(pool('KoaPool')?.totalConnections).to.equal(2);
        expect(pool('FastifyPool')?.totalConnections).to.equal(2);
        expect(pool('WebSocketConnectionPool')).to.deep.include({ totalConnections: 1, active: 1 });
        const [ignored] = await app.line('environment overrides ignored: no server in this application reads their section');
        expect(ignored).to.deep.include({ level: 40, variables: ['UNIPOOL_HTTPS_PORT'], sections: ['https'] });
        app.child.kill('SIGTERM');
        expect(await ws.line(/^close /)).to.equal('close 1001'); // the drain closes the WebSocket "going away"
        expect(await app.exited).to.equal(0);
        expect(app.stderr).to.equal('');
      });
    });
  }
});
