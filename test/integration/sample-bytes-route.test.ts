import 'reflect-metadata';
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import type { Application } from '../../src';
import { createTestApp } from '../../src/testing';
import { MAX_BYTES } from '../../samples/multi-protocol/demo-routes';
import { HttpApiServer } from '../../samples/multi-protocol/http-api-server';
import { HttpsApiServer } from '../../samples/multi-protocol/https-api-server';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';

/** Runs curl; resolves with `status size` as `-w` prints them (curl is killed by execFile's timeout if it hangs). */
function curl(url: string, extra: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/curl', ['-s', '-k', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', ...extra, url], { timeout: 15_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

describe('samples/multi-protocol: GET /bytes?n=N on HTTP and HTTPS', function () {
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
    it(`item 4: ${scheme.toUpperCase()} serves exactly N bytes, N up to 64 MiB; above, or not a whole number, is 400`, async () => {
      const port = (scheme === 'http' ? app!.server(HttpApiServer) : app!.server(HttpsApiServer)).address()!.port;
      const base = `${scheme}://127.0.0.1:${port}/bytes`;
      expect(await curl(`${base}?n=0`)).to.equal('200 0');
      expect(await curl(`${base}?n=1`)).to.equal('200 1');
      const odd = 5 * 1024 * 1024 + 3; // not a whole number of chunks
      expect(await curl(`${base}?n=${odd}`)).to.equal(`200 ${odd}`);
      // The largest body, asked with HEAD: its length is announced, nothing is sent.
      const head = await new Promise<string>((resolve, reject) => {
        execFile('/usr/bin/curl', ['-s', '-k', '-I', `${base}?n=${MAX_BYTES}`], { timeout: 15_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
      });
      expect(head).to.match(/^HTTP\/1.1 200/);
      expect(head).to.match(new RegExp(`\\r\\ncontent-length: ${MAX_BYTES}\\r\\n`, 'i'));
      for (const bad of [String(MAX_BYTES + 1), '-1', '1.5', 'abc', '']) expect(await curl(`${base}?n=${bad}`), `n=${bad}`).to.match(/^400 /);
      expect(await curl(base)).to.match(/^400 /);
    });
  }
});
