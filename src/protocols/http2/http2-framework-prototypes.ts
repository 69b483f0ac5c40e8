import * as http from 'node:http';
import * as http2 from 'node:http2';

/**
 * Express (4 and 5) sets the prototypes of every request and response to its own objects, which
 * inherit from `http.IncomingMessage` and `http.ServerResponse`. On node's HTTP/2 compatibility
 * objects (`Http2ServerRequest`, `Http2ServerResponse`) that swap leaves HTTP/1.1 methods
 * working on HTTP/2 state: the first body read throws in a later tick (`IncomingMessage._read`
 * reads `this.socket.readable`), out of any handler's reach, and crashes the process.
 *
 * Here: a copy of such a prototype chain re-rooted on the HTTP/2 classes (made once per
 * prototype, cached), and a view of an Express app whose `request`/`response` are those copies,
 * so HTTP/2 requests get Express's methods over node's HTTP/2 ones while HTTP/1.1 fallback
 * requests keep the app's own prototypes.
 */

/** Prototype -> its copy re-rooted on the HTTP/2 class (weak: an app that goes away takes its copies). */
const rebased = new WeakMap<object, object>();

/**
 * A copy of `proto`'s chain down to (not including) `from`, re-rooted on `to`; `proto` itself when
 * `from` is not in its chain (nothing HTTP/1.1-specific to replace).
 */
export function rebasePrototype(proto: object, from: object, to: object): object {
  if (proto === from) return to;
  const parent = Object.getPrototypeOf(proto) as object | null;
  if (parent === null) return proto;
  const cached = rebased.get(proto);
  if (cached !== undefined) return cached;
  const base = rebasePrototype(parent, from, to);
  if (base === parent) return proto;
  const copy = Object.create(base, Object.getOwnPropertyDescriptors(proto)) as object;
  rebased.set(proto, copy);
  return copy;
}

/** What unipool reads of an Express application (a function with `handle`, `request` and `response`). */
interface ExpressLike {
  (req: unknown, res: unknown): unknown;
  handle(req: unknown, res: unknown, next?: unknown): unknown;
  request: object;
  response: object;
}

function isExpressLike(fn: unknown): fn is ExpressLike {
  const f = fn as Partial<ExpressLike> | undefined;
  return (
    typeof fn === 'function' &&
    typeof f?.handle === 'function' &&
    typeof f.request === 'object' &&
    typeof f.response === 'object' &&
    f.request instanceof http.IncomingMessage &&
    f.response instanceof http.ServerResponse
  );
}

/**
 * For a handler that is an Express app: a function serving HTTP/2 compatibility requests through
 * the app with prototypes re-rooted on node's HTTP/2 classes; `undefined` for any other handler.
 * Express reads `this.request`/`this.response` on each request, so a view (an object whose
 * prototype is the app) with its own two is enough; the app is not changed.
 */
export function http2HandlerFor(handler: unknown): ((req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => unknown) | undefined {
  if (!isExpressLike(handler)) return undefined;
  const app = handler;
  const view = Object.create(app) as ExpressLike;
  Object.defineProperty(view, 'request', { get: () => rebasePrototype(app.request, http.IncomingMessage.prototype, http2.Http2ServerRequest.prototype) });
  Object.defineProperty(view, 'response', { get: () => rebasePrototype(app.response, http.ServerResponse.prototype, http2.Http2ServerResponse.prototype) });
  return (req, res) => view.handle(req, res);
}

/**
 * Whether a handler left node's HTTP/2 compatibility objects unusable (their prototypes replaced
 * by ones that are not node's HTTP/2 classes); if so, restores node's prototypes so that node's
 * own reads of the body (in a later tick) cannot throw out of everyone's reach.
 */
export function restoreCompatPrototypes(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): boolean {
  const reqOk = req instanceof http2.Http2ServerRequest;
  const resOk = res instanceof http2.Http2ServerResponse;
  if (reqOk && resOk) return false;
  if (!reqOk) Object.setPrototypeOf(req, http2.Http2ServerRequest.prototype);
  if (!resOk) Object.setPrototypeOf(res, http2.Http2ServerResponse.prototype);
  return true;
}
