import Koa from 'koa';
import { byteStream, delay, MAX_BYTES, MAX_SLOW_MS, wholeNumber } from './demo-params';

/** The sample's Koa 3 app: one routing middleware, and Koa's own error handling for `/fail`. */
export const koaApp = new Koa();

koaApp.use(async (ctx) => {
  if (ctx.method !== 'GET') ctx.throw(405);
  switch (ctx.path) {
    case '/':
      ctx.body = 'hello from koa\n';
      return;
    case '/slow': {
      const ms = wholeNumber(ctx.query.ms, MAX_SLOW_MS);
      if (ms === undefined) return ctx.throw(400, `ms must be a whole number from 0 to ${MAX_SLOW_MS}\n`);
      await delay(ms, ctx.res);
      ctx.body = `slept ${ms} ms\n`;
      return;
    }
    case '/bytes': {
      const n = wholeNumber(ctx.query.n, MAX_BYTES);
      if (n === undefined) return ctx.throw(400, `n must be a whole number from 0 to ${MAX_BYTES}\n`);
      ctx.type = 'application/octet-stream';
      ctx.length = n;
      ctx.body = byteStream(n);
      return;
    }
    case '/fail':
      // Koa answers 500 (and logs the error): unipool counts it as a failed request.
      throw new Error('failed on purpose');
  }
});
