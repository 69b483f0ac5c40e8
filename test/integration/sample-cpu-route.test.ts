import 'reflect-metadata';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import type { Application } from '../../src';
import { createTestApp } from '../../src/testing';
import { MAX_CPU_MS } from '../../samples/multi-protocol/demo-routes';
import { HttpApiServer } from '../../samples/multi-protocol/http-api-server';
import { HttpsApiServer } from '../../samples/multi-protocol/https-api-server';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';

/** Runs curl; resolves with `status body` (curl is killed by execFile's timeout if it hangs). */
function curl(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/curl', ['-s', '-k', '-w', ' %{http_code}', url], { timeout: 15_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

describe('samples/multi-protocol: GET /cpu?ms=N burns N ms of CPU on HTTP and HTTPS', function () {
  this.timeout(20_000);
  let app: Application | undefined;
  let certs: TlsFixtures;

  before(async () => {
    certs = await makeTlsFixtures();
    app = createTestApp({ servers: [HttpApiServer, HttpsApiServer], config: { http: {}, https: { tls: { cert: certs.cert, key: certs.key } } } });
    await app.start();
  });
  after(async () => {
    if (app?.state === 'running') await app.stop();
    certs.cleanup();
  });

  for (const scheme of ['http', 'https'] as const) {
    it(`${scheme.toUpperCase()}: answers 200 after holding the event loop for N ms (a busy loop, not a timer); N from 0 to ${MAX_CPU_MS}`, async () => {
      const port = (scheme === 'http' ? app!.server(HttpApiServer) : app!.server(HttpsApiServer)).address()!.port;
      const base = `${scheme}://127.0.0.1:${port}/cpu`;
      expect(await curl(`${base}?ms=0`)).to.equal('burned 0 ms of CPU\n 200');
      // The server runs in this process: while it burns, this process's timers cannot run, so
      // the longest gap between 5 ms ticks is at least N. A timer-based handler would leave no gap.
      let last = performance.now();
      let longestGap = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        longestGap = Math.max(longestGap, now - last);
        last = now;
      }, 5);
      try {
        expect(await curl(`${base}?ms=200`)).to.equal('burned 200 ms of CPU\n 200');
      } finally {
        clearInterval(ticker);
      }
      expect(longestGap).to.be.at.least(200);
    });

    it(`${scheme.toUpperCase()}: N over ${MAX_CPU_MS}, negative, fractional, not a number or missing is 400`, async () => {
      const port = (scheme === 'http' ? app!.server(HttpApiServer) : app!.server(HttpsApiServer)).address()!.port;
      const base = `${scheme}://127.0.0.1:${port}/cpu`;
      for (const bad of [`?ms=${MAX_CPU_MS + 1}`, '?ms=-1', '?ms=1.5', '?ms=abc', '?ms=', '']) {
        expect(await curl(`${base}${bad}`), bad).to.match(/^ms must be a whole number from 0 to 1000\n 400$/);
      }
    });
  }
});
