import express from 'express';
import { byteStream, delay, MAX_BYTES, MAX_SLOW_MS, wholeNumber } from './demo-params';

/** The sample's Express 5 app: plain Express routes, and Express's own error handling for `/fail`. */
export const expressApp = express();

expressApp.get('/', (_req, res) => {
  res.send('hello from express\n');
});

expressApp.get('/slow', async (req, res) => {
  const ms = wholeNumber(req.query.ms, MAX_SLOW_MS);
  if (ms === undefined) return void res.status(400).send(`ms must be a whole number from 0 to ${MAX_SLOW_MS}\n`);
  await delay(ms, res);
  res.send(`slept ${ms} ms\n`);
});

expressApp.get('/bytes', (req, res) => {
  const n = wholeNumber(req.query.n, MAX_BYTES);
  if (n === undefined) return void res.status(400).send(`n must be a whole number from 0 to ${MAX_BYTES}\n`);
  res.set({ 'Content-Type': 'application/octet-stream', 'Content-Length': String(n) });
  byteStream(n).pipe(res);
});

// Express's final handler answers 500 (and logs the stack): unipool counts it as a failed request.
expressApp.get('/fail', () => {
  throw new Error('failed on purpose');
});
