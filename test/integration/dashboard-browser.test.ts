import 'reflect-metadata';
import { expect } from 'chai';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'puppeteer-core';
import WebSocket from 'ws';
import { HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool, type PoolMetricsSnapshot } from '../../src';
import { createTestApp } from '../../src/testing';
import { chromiumMissing, launchChromium } from '../helpers/chromium';
import { closeClients, echoClient, unary } from '../helpers/grpc';
import { request } from '../helpers/http-fixtures';
import { REPO_ROOT, portZeroSampleConfig, startSample, waitForOutput, writeTempConfig, type SampleProcess } from '../helpers/sample-process';

const run = promisify(execFile);
const SCRIPT = 'dist/samples/multi-protocol/main.js';
const TOKEN = 'dashboard-Browser-Tok3n-x81Q';
const ARTIFACTS = join(REPO_ROOT, 'test/artifacts');

/** Every endpoint the sample printed (`<name> <Server> listening on [http://]127.0.0.1:<port>`), whatever the protocols. */
function printedPorts(out: string): Record<string, number> {
  const ports: Record<string, number> = {};
  for (const m of out.matchAll(/^(\w+)\s+\w+ listening on (?:http:\/\/)?127\.0\.0\.1:(\d+)/gm)) ports[m[1]] = Number(m[2]);
  return ports;
}

interface StatusPool {
  pool: string;
  metrics: {
    active: number;
    maxConnections: number;
    totalConnections: number;
    requests: { total: number; failed: number; inFlight: number };
    rejected: { byReason: Record<string, number> };
    websocket?: { messagesIn: number; messagesOut: number };
    grpc?: { methods: Array<{ path: string; calls: number }> };
    tls?: { certificate: { daysUntilExpiry: number } };
  };
}

/** The figures the test compares, read the same way from /status and from the page. */
type Figures = Record<string, number>;

function statusFigures(pools: StatusPool[]): Figures {
  const out: Figures = {};
  for (const p of pools) {
    const m = p.metrics;
    out[`${p.pool}.connections`] = m.active;
    out[`${p.pool}.limit`] = m.maxConnections;
    out[`${p.pool}.requests.total`] = m.requests.total;
    out[`${p.pool}.totalConnections`] = m.totalConnections;
    out[`${p.pool}.rejected.max_connections`] = m.rejected.byReason.max_connections ?? 0;
    if (m.websocket) out[`${p.pool}.websocket.messagesIn`] = m.websocket.messagesIn;
    if (m.grpc) out[`${p.pool}.grpc./demo.Echo/Echo`] = m.grpc.methods.find((x) => x.path === '/demo.Echo/Echo')?.calls ?? 0;
    if (m.tls) out[`${p.pool}.tls.daysUntilExpiry`] = Math.round(m.tls.certificate.daysUntilExpiry);
  }
  return out;
}

/** The same figures as the page shows them (each figure's `data-value`). */
function pageFigures(page: Page): Promise<Figures> {
  return page.evaluate(() => {
    const out: Record<string, number> = {};
    const num = (node: Element | null): number => Number(node?.getAttribute('data-value'));
    for (const card of document.querySelectorAll('article[data-pool]')) {
      const pool = card.getAttribute('data-pool');
      const connections = card.querySelector('[data-field="connections"]');
      out[`${pool}.connections`] = num(connections);
      out[`${pool}.limit`] = Number(connections?.getAttribute('data-limit'));
      out[`${pool}.requests.total`] = num(card.querySelector('[data-field="requests.total"]'));
      out[`${pool}.totalConnections`] = num(card.querySelector('[data-field="totalConnections"]'));
      out[`${pool}.rejected.max_connections`] = num(card.querySelector('[data-field="rejected"] tr[data-key="max_connections"] td[data-value]'));
      const ws = card.querySelector('[data-field="websocket.messagesIn"]');
      if (ws) out[`${pool}.websocket.messagesIn`] = num(ws);
      const echo = card.querySelector('tr[data-method="/demo.Echo/Echo"] [data-field="calls"]');
      if (echo) out[`${pool}.grpc./demo.Echo/Echo`] = num(echo);
      const days = card.querySelector('[data-field="tls.daysUntilExpiry"]');
      if (days) out[`${pool}.tls.daysUntilExpiry`] = Math.round(num(days));
    }
    return out;
  });
}

/** Relative luminance contrast of two `rgb(...)` colours (WCAG 2). */
function contrast(a: string, b: string): number {
  const lum = (c: string): number => {
    const [r, g, bl] = (c.match(/[\d.]+/g) ?? []).slice(0, 3).map((v) => {
      const s = Number(v) / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

describe('dashboard in headless Chromium against samples/multi-protocol (issue 16)', function () {
  this.timeout(120_000);
  let sample: SampleProcess | undefined;
  let chromium: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let page: Page;
  let ports: Record<string, number> = {};
  const problems: string[] = [];
  const requested: string[] = [];
  const held: ChildProcess[] = [];
  let ws: WebSocket | undefined;

  before(async function () {
    const missing = chromiumMissing();
    // A missing browser fails the suite like a missing curl would: a skipped test proves nothing.
    if (missing) throw new Error(`Debian chromium is needed for the dashboard tests (.ci/run installs it): ${missing}`);
    mkdirSync(ARTIFACTS, { recursive: true });
    const config = portZeroSampleConfig();
    config.http.maxConnections = 2; // a third concurrent client is refused: a rejection to see
    config.admin.token = TOKEN;
    sample = startSample(SCRIPT, writeTempConfig(config));
    await waitForOutput(sample, /admin\s+AdminServer listening on http:\/\/127\.0\.0\.1:\d+/);
    ports = printedPorts(sample.stdout());
    chromium = await launchChromium();
    page = await chromium.browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${String(err)}`));
    page.on('request', (r) => requested.push(r.url()));
  });

  after(async () => {
    ws?.terminate();
    closeClients();
    for (const c of held.splice(0)) c.kill('SIGKILL');
    await chromium?.close();
    if (sample && sample.child.exitCode === null) {
      sample.child.kill('SIGKILL');
      await sample.exited;
    }
  });

  async function status(): Promise<StatusPool[]> {
    const reply = await request(ports.admin, '/status', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(reply.status).to.equal(200);
    return (JSON.parse(reply.body) as { pools: StatusPool[] }).pools;
  }

  /** Polls until the page shows what /status says (one frame per second), then asserts it. */
  async function expectPageMatchesStatus(): Promise<Figures> {
    let want: Figures = {};
    let got: Figures = {};
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      want = statusFigures(await status());
      got = await pageFigures(page);
      if (JSON.stringify(got) === JSON.stringify(want)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(got).to.deep.equal(want);
    return got;
  }

  /** Polls /status (not the page, which updates once a second) until `check` holds for the pool. */
  async function untilStatus(pool: string, check: (p: StatusPool) => boolean): Promise<void> {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 10))) {
      if (check((await status()).find((p) => p.pool === pool)!)) return;
    }
    throw new Error(`pool ${pool} never got there`);
  }

  async function curl(...args: string[]): Promise<string> {
    const { stdout } = await run('curl', ['-sS', '--max-time', '10', ...args]);
    return stdout;
  }

  it('asks for the admin token before showing any figure, and the token never reaches the page, its URLs or its storage', async () => {
    await page.goto(`http://127.0.0.1:${ports.admin}/dashboard`, { waitUntil: 'load' });
    await page.waitForSelector('#token-form:not([hidden])');
    expect(await page.$$('article[data-pool]')).to.have.length(0);
    await page.type('#token-input', 'not-the-token-but-long-enough');
    await page.click('#token-form button[type="submit"]');
    await page.waitForFunction(() => document.getElementById('token-error')?.textContent === 'The server refused this token.');
    await page.type('#token-input', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelectorAll('article[data-pool]').length > 0);
    expect(await page.$eval('#token-form', (f) => (f as HTMLFormElement).hidden)).to.equal(true);
    expect(await page.$eval('#token-input', (i) => (i as HTMLInputElement).value)).to.equal('');
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    const html = await page.content();
    for (const text of [html, stored, requested.join('\n')]) {
      expect(text).to.not.include(TOKEN);
      expect(text).to.not.include('PRIVATE KEY');
    }
  });

  it('shows every pool of /status live; with traffic on every protocol (curl, gRPC, WebSocket) its numbers change and match /status', async () => {
    const names = await page.$$eval('article[data-pool]', (cards) => cards.map((c) => c.getAttribute('data-pool')));
    expect(names).to.deep.equal((await status()).map((p) => p.pool));
    const before = await expectPageMatchesStatus();

    // HTTP: 20 requests over one keep-alive connection; two held slow requests fill maxConnections (2), so a third client is refused.
    await curl(`http://127.0.0.1:${ports.http}/?n=[1-20]`);
    for (let i = 0; i < 2; i++) held.push(spawn('curl', ['-sS', '-o', '/dev/null', '--max-time', '20', `http://127.0.0.1:${ports.http}/slow?ms=4000`], { stdio: 'ignore' }));
    // Both held requests are in flight (a lingering keep-alive connection counts in `active`, never here).
    await untilStatus('http', (p) => p.metrics.requests.inFlight === 2);
    expect(await curl('-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${ports.http}/`)).to.equal('503');
    // HTTPS (self-signed sample certificate), gRPC unary calls, WebSocket messages.
    await curl('-k', `https://127.0.0.1:${ports.https}/?n=[1-5]`);
    const client = echoClient(ports.grpc);
    for (let i = 0; i < 5; i++) expect((await unary(client, 'Echo', { message: `m${i}` })).code).to.equal(0);
    ws = new WebSocket(`ws://127.0.0.1:${ports.ws}/ws`);
    await new Promise((resolve, reject) => ws!.once('open', resolve).once('error', reject));
    for (let i = 0; i < 3; i++) {
      const echoed = new Promise((resolve) => ws!.once('message', resolve));
      ws.send(`hello ${i}`);
      await echoed;
    }
    await Promise.all(held.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once('exit', resolve)))));
    held.splice(0);

    const after = await expectPageMatchesStatus();
    expect(after['http.requests.total']).to.be.at.least(before['http.requests.total'] + 22);
    expect(after['http.rejected.max_connections']).to.equal(before['http.rejected.max_connections'] + 1);
    expect(after['https.requests.total']).to.be.at.least(before['https.requests.total'] + 5);
    expect(after['grpc.grpc./demo.Echo/Echo']).to.equal(before['grpc.grpc./demo.Echo/Echo'] + 5);
    expect(after['ws.websocket.messagesIn']).to.equal(before['ws.websocket.messagesIn'] + 3);
    expect(after['ws.connections']).to.equal(1);
    expect(after['https.tls.daysUntilExpiry']).to.be.above(300);
    // Health, requests/s and the charts are live too.
    const http = await page.$eval('article[data-pool="http"]', (card) => ({
      health: card.querySelector('[data-field="health"]')?.textContent,
      reason: card.querySelector('[data-field="health.reason"]')?.textContent,
      charts: card.querySelectorAll('.chart canvas').length,
      p95: card.querySelector('[data-field="latency.p95Ms"]')?.textContent,
    }));
    expect(http.health).to.be.oneOf(['HEALTHY', 'DEGRADED', 'OVERLOADED', 'UNAVAILABLE']);
    expect(http.reason).to.be.a('string').and.not.equal('');
    expect(http.charts).to.equal(2);
    expect(http.p95).to.match(/ ms$/);
    const rates = await page.$$eval('[data-field="requestsPerSecond"]', (nodes) => nodes.map((n) => n.getAttribute('data-value')));
    expect(rates.every((r) => r !== null && r !== '' && Number(r) >= 0)).to.equal(true);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    // The first screen (docs/images/dashboard.png is one of these).
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-first-screen.png'), clip: { x: 0, y: 0, width: 1280, height: 1180 } });
  });

  it('reads on a phone and in dark mode: no sideways scrolling, a dark background, text contrast of at least 4.5:1, landmarks and labels', async () => {
    // A phone's width (isMobile would make puppeteer reload the page, and the token lives in the tab's memory only).
    await page.setViewport({ width: 390, height: 844 });
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
    // The resize handler redraws the charts 100 ms after the last resize: wait for the page to fit.
    await page.waitForFunction(() => document.documentElement.scrollWidth <= window.innerWidth, { timeout: 10_000 }).catch(async (err: unknown) => {
      const layout = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
      throw new Error(`sideways scrolling on a phone: ${JSON.stringify(layout)} (${String(err)})`);
    });
    const colours = await page.evaluate(() => {
      const style = (sel: string) => getComputedStyle(document.querySelector(sel) as Element);
      return {
        body: [style('body').color, style('body').backgroundColor],
        card: [style('article.pool').color, style('article.pool').backgroundColor],
        muted: [style('article.pool dt').color, style('article.pool').backgroundColor],
        badge: [style('article.pool .badge').color, style('article.pool .badge').backgroundColor],
      };
    });
    const luminanceOf = (rgb: string) => contrast(rgb, 'rgb(0, 0, 0)');
    expect(luminanceOf(colours.body[1])).to.be.below(1.5); // dark background
    for (const [name, [fg, bg]] of Object.entries(colours)) expect(contrast(fg, bg), name).to.be.at.least(4.5);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone-dark.png'), fullPage: true });
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
    const light = await page.evaluate(() => [getComputedStyle(document.body).color, getComputedStyle(document.body).backgroundColor]);
    expect(contrast(light[0], light[1])).to.be.at.least(4.5);

    const a11y = await page.evaluate(() => ({
      landmarks: ['header', 'main', 'footer'].map((tag) => document.querySelectorAll(`body > ${tag}`).length),
      lang: document.documentElement.lang,
      live: document.querySelectorAll('[aria-live="polite"]').length,
      unnamedCards: [...document.querySelectorAll('article[data-pool]')].filter((a) => !document.getElementById(a.getAttribute('aria-labelledby') ?? '')).length,
      unlabelledCharts: [...document.querySelectorAll('.chart')].filter((c) => c.getAttribute('role') !== 'img' || !c.getAttribute('aria-label')).length,
      inputLabelled: document.querySelector('label[for="token-input"]') !== null,
      // uPlot's legend is a table inside the chart, whose role="img" makes it one image with a label.
      tablesWithoutCaption: [...document.querySelectorAll('table')].filter((t) => !t.closest('.chart') && !t.querySelector('caption')).length,
    }));
    expect(a11y).to.deep.equal({ landmarks: [1, 1, 1], lang: 'en', live: 2, unnamedCards: 0, unlabelledCharts: 0, inputLabelled: true, tablesWithoutCaption: 0 });
    await page.setViewport({ width: 1280, height: 900 });
  });

  it('shows the shutdown phases as they run on SIGTERM (the drain waits for an in-flight request), then the end of the stream; the sample exits 0', async () => {
    const slow = curl('-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${ports.http}/slow?ms=4000`);
    await untilStatus('http', (p) => p.metrics.requests.inFlight === 1);
    sample!.child.kill('SIGTERM');
    await page.waitForSelector('#shutdown-phases li[data-phase="drain"][data-state="running"]', { timeout: 10_000 });
    expect(await page.$eval('#shutdown-summary', (n) => n.textContent)).to.equal('Shutting down: drain phase under way.');
    await page.waitForSelector('#connection[data-state="ended"]', { timeout: 15_000 });
    const phases = await page.$$eval('#shutdown-phases li', (items) => items.map((li) => [li.getAttribute('data-phase'), li.getAttribute('data-state')]));
    expect(phases).to.deep.equal([
      ['readiness', 'done'],
      ['stopAccepting', 'done'],
      ['drain', 'done'],
      ['force', 'done'],
      ['hooks', 'done'],
    ]);
    expect(await slow).to.equal('200');
    expect(await sample!.exited).to.equal(0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-shutdown.png'), fullPage: true });
    expect(problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(p))).to.deep.equal([]);
  });
});

/** A pool of a protocol the page has never heard of, with figures of its own (as a new protocol's pool would have). */
class NovelPool extends HttpConnectionPool {
  override readonly protocol: string = 'novel';

  override getMetrics(): PoolMetricsSnapshot & { novel: object } {
    return { ...super.getMetrics(), novel: { sessions: { open: 3, goaway: 1 }, frames: 7, mode: 'h2c' } };
  }
}

@UsePool(NovelPool)
class NovelServer extends HttpServer<NovelPool> {
  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end('novel');
  }
}

describe('dashboard in headless Chromium: a pool of a protocol the page does not know (issue 16)', function () {
  this.timeout(60_000);
  let chromium: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let app: ReturnType<typeof createTestApp> | undefined;

  before(function () {
    const missing = chromiumMissing();
    // A missing browser fails the suite like a missing curl would: a skipped test proves nothing.
    if (missing) throw new Error(`Debian chromium is needed for the dashboard tests (.ci/run installs it): ${missing}`);
  });

  after(async () => {
    await chromium?.close();
    if (app?.state === 'running') await app.stop();
  });

  it('shows it from the /events data alone: its generic figures, and its own figures as a list', async () => {
    app = createTestApp({ servers: [NovelServer], config: { admin: {} } });
    await app.start();
    const port = app.server(NovelServer).address()!.port;
    for (let i = 0; i < 4; i++) expect((await request(port, '/')).body).to.equal('novel');
    chromium = await launchChromium();
    const page = await chromium.browser.newPage();
    await page.goto(`http://127.0.0.1:${app.adminAddress()!.port}/dashboard`, { waitUntil: 'load' });
    await page.waitForSelector('article[data-pool="http"][data-protocol="novel"] [data-extra="novel"]');
    const shown = await page.$eval('article[data-pool="http"]', (card) => ({
      kind: card.querySelector('.pool-kind')?.textContent,
      requests: card.querySelector('[data-field="requests.total"]')?.getAttribute('data-value'),
      figures: [...card.querySelectorAll('[data-extra="novel"] dd')].map((dd) => [dd.getAttribute('data-field'), dd.textContent]),
    }));
    expect(shown).to.deep.equal({
      kind: 'novel · NovelPool',
      requests: '4',
      figures: [
        ['novel.sessions.open', '3'],
        ['novel.sessions.goaway', '1'],
        ['novel.frames', '7'],
        ['novel.mode', 'h2c'],
      ],
    });
  });
});

/** A pool named `api.v1` whose next frame can be made one the page cannot show (no `latency`). */
class DottedPool extends HttpConnectionPool {
  breakNext = false;

  override get name(): string {
    return 'api.v1';
  }

  override getMetrics(): PoolMetricsSnapshot {
    const metrics = super.getMetrics();
    if (!this.breakNext) return metrics;
    this.breakNext = false;
    return { ...metrics, latency: null } as unknown as PoolMetricsSnapshot;
  }
}

/** A pool named `api-v1`: the same slug as `api.v1`. */
class DashedPool extends HttpConnectionPool {
  override get name(): string {
    return 'api-v1';
  }
}

@UsePool(DottedPool)
class DottedServer extends HttpServer<DottedPool> {
  constructor(@PoolConfig(HttpPoolConfig, 'api2') config: HttpPoolConfig) {
    super(config);
  }

  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end('dotted');
  }
}

@UsePool(DashedPool)
class DashedServer extends HttpServer<DashedPool> {
  constructor(@PoolConfig(HttpPoolConfig, 'api3') config: HttpPoolConfig) {
    super(config);
  }

  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end('dashed');
  }
}

describe('dashboard in headless Chromium: token rotation, a frame that fails to render, pool ids, idle figures (issue 16 review)', function () {
  this.timeout(90_000);
  const T1 = 'review-token-one-0123456789';
  const T2 = 'review-token-two-0123456789';
  let chromium: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let app: ReturnType<typeof createTestApp> | undefined;
  let page: Page;

  before(async function () {
    const missing = chromiumMissing();
    // A missing browser fails the suite like a missing curl would: a skipped test proves nothing.
    if (missing) throw new Error(`Debian chromium is needed for the dashboard tests (.ci/run installs it): ${missing}`);
    // One stream at most: a stream the page forgot to let go of would lock it out (503).
    app = createTestApp({ servers: [DottedServer, DashedServer], sections: { api2: HttpPoolConfig, api3: HttpPoolConfig }, config: { admin: { token: T1, maxEventStreams: 1 } } });
    await app.start();
    chromium = await launchChromium();
    page = await chromium.browser.newPage();
    await page.goto(`http://127.0.0.1:${app.adminAddress()!.port}/dashboard`, { waitUntil: 'load' });
    await page.waitForSelector('#token-form:not([hidden])');
    await enterToken(T1);
  });

  after(async () => {
    await chromium?.close();
    if (app?.state === 'running') await app.stop();
  });

  async function enterToken(token: string): Promise<void> {
    await page.type('#token-input', token);
    await page.click('#token-form button[type="submit"]');
    await page.waitForFunction(() => document.getElementById('connection')?.getAttribute('data-state') === 'live' && document.querySelectorAll('article[data-pool]').length === 2);
  }

  const framesShown = (): Promise<number> => page.evaluate(() => Number(document.body.getAttribute('data-frames')));

  it('the token field is not a password field (no offer to save the admin token as a login), its text is masked', async () => {
    const field = await page.$eval('#token-input', (i) => ({ type: (i as HTMLInputElement).type, autocomplete: i.getAttribute('autocomplete'), mask: getComputedStyle(i).getPropertyValue('-webkit-text-security'), inForm: i.closest('form') !== null }));
    expect(field).to.deep.include({ type: 'text', autocomplete: 'off', mask: 'disc' });
  });

  it('two pools whose names share a slug (api.v1, api-v1) get distinct element ids, each card labelled by its own title', async () => {
    const cards = await page.$$eval('article[data-pool]', (list) =>
      list.map((a) => ({ id: a.id, pool: a.getAttribute('data-pool'), title: document.getElementById(a.getAttribute('aria-labelledby') ?? '')?.closest('article')?.getAttribute('data-pool') })),
    );
    expect(cards.map((c) => c.pool)).to.have.members(['api.v1', 'api-v1']);
    expect(new Set(cards.map((c) => c.id)).size).to.equal(2);
    for (const c of cards) expect(c.title, c.pool!).to.equal(c.pool);
    const ids = await page.$$eval('[id]', (nodes) => nodes.map((n) => n.id));
    expect(ids.length).to.equal(new Set(ids).size);
  });

  it('latency with no request in the window shows no figure ("–"), not 0 ms; idle frames leave the shutdown list and figures untouched', async () => {
    const latency = await page.$eval('article[data-pool="api-v1"]', (card) => ['p50Ms', 'p95Ms', 'p99Ms'].map((q) => [card.querySelector(`[data-field="latency.${q}"]`)?.textContent, card.querySelector(`[data-field="latency.${q}"]`)?.getAttribute('data-value')]));
    expect(latency).to.deep.equal([['–', ''], ['–', ''], ['–', '']]);
    await page.evaluate(() => {
      const w = window as unknown as { kept: Element[] };
      w.kept = [...document.querySelectorAll('#shutdown-phases li')];
    });
    const before = await framesShown();
    await page.waitForFunction((n: number) => Number(document.body.getAttribute('data-frames')) >= n + 2, { timeout: 10_000 }, before);
    const same = await page.evaluate(() => {
      const kept = (window as unknown as { kept: Element[] }).kept;
      const now = [...document.querySelectorAll('#shutdown-phases li')];
      return kept.length === 5 && now.length === 5 && now.every((li, i) => li === kept[i]);
    });
    expect(same, 'the same <li> nodes, not rebuilt each second').to.equal(true);
  });

  it('a frame the page cannot render lets go of its stream (the one slot is free again) and the page reconnects and goes on', async () => {
    const before = await framesShown();
    (app!.pools.find((p) => p instanceof DottedPool) as DottedPool).breakNext = true;
    await page.waitForFunction(() => document.getElementById('connection')?.getAttribute('data-state') === 'error', { timeout: 10_000 });
    await page.waitForFunction(
      (n: number) => document.getElementById('connection')?.getAttribute('data-state') === 'live' && Number(document.body.getAttribute('data-frames')) >= n + 2,
      { timeout: 15_000 },
      before,
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}; the page says: ${await page.$eval('#connection', (n) => n.textContent)}`);
    });
  });

  it('a reload that changes admin.token ends the page\'s stream; the page asks for the new token and shows the figures again with it', async () => {
    const result = await app!.reload({ api2: { host: '127.0.0.1', port: 0 }, api3: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token: T2, maxEventStreams: 1 } });
    expect(result.ok, JSON.stringify(result.problems)).to.equal(true);
    await page.waitForSelector('#token-form:not([hidden])', { timeout: 10_000 });
    expect(await page.$eval('#token-error', (n) => n.textContent)).to.equal('The admin token changed; enter the new one.');
    await enterToken(T2);
  });
});
